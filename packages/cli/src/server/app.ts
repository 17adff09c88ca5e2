// The OpenAI-compatible HTTP surface of `pillow serve`, on hono: /v1/completions,
// /v1/chat/completions (SSE streaming), /v1/models, /v1/embeddings, plus /health. Everything a
// public endpoint needs sits here or beside it — auth (auth.ts), errors (http-error.ts), model ids
// (model-names.ts), body → options (request-options.ts), answers (responses.ts), a bounded queue
// and shutdown — so an engine only has to generate.
import { Hono, type Context } from "hono";
import type { z } from "zod";
import { installMiddleware } from "./app-middleware.js";
import { chatQuery, type DemoFormatter, formatDemosAlpaca, withDemosInChat } from "./demos.js";
import type { ChatMessage, Demo, DemoSelector, EngineRequest, ServeEngine } from "./engine.js";
import { HttpError } from "./http-error.js";
import { resolveModel } from "./model-names.js";
import { RequestQueue } from "./request-queue.js";
import { generationOptionsOf, type TokenLimits } from "./request-options.js";
import { type Kind, respond } from "./responses.js";
import {
  type ChatBody,
  type CompletionBody,
  chatBody,
  completionBody,
  describeZodError,
  embeddingBody,
} from "./schemas.js";

export { checkAdapterName, resolveModel } from "./model-names.js";

export type ServeAppOptions = {
  engine: ServeEngine;
  /** Clients must send `Authorization: Bearer <apiKey>` to /v1/* when set. */
  apiKey?: string;
  /** Largest accepted request body in bytes (default 1 MiB); larger gets 413. */
  maxBodyBytes?: number;
  /** Largest max_tokens a request may ask for (default 2048); more gets 400. */
  maxTokens?: number;
  /** max_tokens when the request gives none (default min(256, maxTokens)). */
  defaultMaxTokens?: number;
  /** Requests handed to the engine at once (default 64); a batching engine runs them together. */
  concurrency?: number;
  /** Requests allowed to wait for a slot (default 256); beyond that 429. */
  queueCapacity?: number;
  /** Picks PILLOW demonstrations when a request carries `pillow: { demos: k }` or `pillow_matcher: true`. */
  demoSelector?: DemoSelector;
  /** Demonstrations per request when the request says `pillow_matcher: true` without a count (default 3). */
  defaultDemos?: number;
  formatDemos?: DemoFormatter;
  /** One line per request (method, path, status, milliseconds). */
  log?: (line: string) => void;
};

export type ServeApp = {
  app: Hono;
  queue: RequestQueue;
  /** Refuse new requests (503), abort nothing, wait for running ones up to `graceMs`, then abort them. */
  drain(graceMs: number): Promise<void>;
};

function chatContent(content: ChatBody["messages"][number]["content"]): string {
  if (content === undefined || content === null) return "";
  if (typeof content === "string") return content;
  return content
    .filter((part) => part.type === "text" && typeof part.text === "string")
    .map((part) => part.text)
    .join("");
}

async function readBody<T>(c: Context, schema: z.ZodType<T>): Promise<T> {
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch (error) {
    // bodyLimit reports overflow by throwing through the body stream; let it answer 413.
    if (error instanceof Error && error.name === "BodyLimitError") throw error;
    throw new HttpError(400, "request body is not valid JSON", "invalid_request_error", "invalid_json");
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new HttpError(
      400,
      describeZodError(parsed.error),
      "invalid_request_error",
      "invalid_request",
      String(parsed.error.issues[0].path[0] ?? ""),
    );
  }
  return parsed.data;
}

/**
 * One AbortController per running request, aborted when its client goes away or when shutdown's
 * grace period ends (not AbortSignal.any on a shared shutdown signal, which would pile a listener
 * per request onto it for the life of the server).
 */
class LiveRequests {
  private readonly controllers = new Set<AbortController>();

  /** A signal for one request and the function that forgets it once the request is over. */
  open(clientSignal: AbortSignal): { signal: AbortSignal; close: () => void } {
    const controller = new AbortController();
    this.controllers.add(controller);
    const onClientGone = () => controller.abort();
    clientSignal.addEventListener("abort", onClientGone, { once: true });
    return {
      signal: controller.signal,
      close: () => {
        this.controllers.delete(controller);
        clientSignal.removeEventListener("abort", onClientGone);
      },
    };
  }

  abortAll(): void {
    for (const controller of this.controllers) controller.abort();
  }
}

export function createServeApp(options: ServeAppOptions): ServeApp {
  const engine = options.engine;
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const maxTokens = options.maxTokens ?? 2048;
  const limits: TokenLimits = { maxTokens, defaultMaxTokens: Math.min(options.defaultMaxTokens ?? 256, maxTokens) };
  const formatDemos = options.formatDemos ?? formatDemosAlpaca;
  const queue = new RequestQueue(options.concurrency ?? 64, options.queueCapacity ?? 256);
  const live = new LiveRequests();
  let draining = false;

  const app = new Hono();

  installMiddleware(app, {
    apiKey: options.apiKey,
    maxBodyBytes,
    log: options.log,
    health: () => ({ draining, active: queue.active, queued: queue.queued }),
  });

  async function demosFor(body: CompletionBody | ChatBody, query: string): Promise<Demo[]> {
    const count = body.pillow?.demos ?? (body.pillow_matcher ? (options.defaultDemos ?? 3) : undefined);
    if (count === undefined || count === 0) return [];
    if (!options.demoSelector) {
      throw new HttpError(
        400,
        "this server has no matcher for PILLOW demos — start it with `pillow serve --matcher DIR`",
        "invalid_request_error",
        "no_matcher",
        "pillow",
      );
    }
    return (await options.demoSelector.select(query, count)).slice(0, count);
  }

  /** Validates, takes a slot (429 when the queue is full), runs and answers one generation request. */
  async function generation(
    c: Context,
    kind: Kind,
    body: CompletionBody | ChatBody,
    input: { prompt: string } | { messages: ChatMessage[] },
    demos: Demo[],
  ) {
    const { model, adapter } = resolveModel(body.model, engine.models());
    const optionsOfBody = generationOptionsOf(body, limits);
    const { signal, close } = live.open(c.req.raw.signal);
    let releaseSlot: () => void;
    try {
      releaseSlot = await queue.acquire(signal);
    } catch (error) {
      close();
      throw error;
    }
    const request: EngineRequest = { model, adapter, ...input, options: optionsOfBody, signal };
    return respond(
      c,
      engine,
      kind,
      body,
      request,
      demos,
      () => {
        releaseSlot();
        close();
      },
      options.log,
    );
  }

  app.post("/v1/completions", async (c) => {
    const body = await readBody(c, completionBody);
    const prompt = Array.isArray(body.prompt) ? body.prompt[0] : body.prompt;
    const demos = await demosFor(body, prompt);
    return generation(c, "completion", body, { prompt: demos.length > 0 ? formatDemos(demos, prompt) : prompt }, demos);
  });

  app.post("/v1/chat/completions", async (c) => {
    const body = await readBody(c, chatBody);
    const messages: ChatMessage[] = body.messages.map((message) => ({
      role: message.role === "developer" ? "system" : message.role,
      content: chatContent(message.content),
    }));
    const demos = await demosFor(body, chatQuery(messages));
    return generation(c, "chat", body, { messages: withDemosInChat(messages, demos, formatDemos) }, demos);
  });

  app.get("/v1/models", (c) => {
    const served = engine.models();
    return c.json({
      object: "list",
      data: served.map((id) => ({
        id,
        object: "model",
        created: 0,
        owned_by: "pillow",
        root: served[0],
        parent: id === served[0] ? null : served[0],
      })),
    });
  });

  app.post("/v1/embeddings", async (c) => {
    const body = await readBody(c, embeddingBody);
    const { model } = resolveModel(body.model, engine.models());
    const texts = typeof body.input === "string" ? [body.input] : body.input;
    const release = await queue.acquire(c.req.raw.signal);
    let vectors: Float32Array[];
    try {
      vectors = await engine.embed(texts, model);
    } finally {
      release();
    }
    const data = vectors.map((vector, index) => ({
      object: "embedding",
      index,
      embedding:
        body.encoding_format === "base64"
          ? Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString("base64")
          : Array.from(vector),
    }));
    const tokens = texts.reduce((sum, text) => sum + text.length, 0);
    return c.json({ object: "list", data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } });
  });

  async function drain(graceMs: number): Promise<void> {
    draining = true;
    queue.close();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), graceMs);
    });
    const outcome = await Promise.race([queue.whenIdle().then(() => "idle" as const), timedOut]);
    clearTimeout(timer);
    if (outcome === "timeout") {
      live.abortAll(); // running generations stop at their next step, streamed or not
      await Promise.race([queue.whenIdle(), new Promise((resolve) => setTimeout(resolve, graceMs).unref())]);
    }
  }

  return { app, queue, drain };
}
