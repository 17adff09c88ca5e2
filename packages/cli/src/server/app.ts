// The OpenAI-compatible HTTP surface of `pillow serve`, on hono: /v1/completions,
// /v1/chat/completions (SSE streaming), /v1/models, /v1/embeddings, plus /health. Everything a
// public endpoint needs sits here (auth, body and token limits, a bounded queue, shutdown), so an
// engine only has to generate.
import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import { Hono, type Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { streamSSE } from "hono/streaming";
import type { z } from "zod";
import { chatQuery, type DemoFormatter, formatDemosAlpaca, withDemosInChat } from "./demos.js";
import type { ChatMessage, Demo, DemoSelector, EngineChunk, EngineRequest, ServeEngine } from "./engine.js";
import { QueueClosedError, QueueFullError, RequestQueue } from "./request-queue.js";
import { type ChatBody, type CompletionBody, chatBody, completionBody, describeZodError, embeddingBody } from "./schemas.js";

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
  /** Requests generating at once (default 4); the engine may batch them. */
  concurrency?: number;
  /** Requests allowed to wait for a slot (default 32); beyond that 429. */
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

type ErrorType = "invalid_request_error" | "authentication_error" | "not_found_error" | "rate_limit_error" | "server_error";

class HttpError extends Error {
  constructor(
    readonly status: 400 | 401 | 404 | 413 | 429 | 500 | 503,
    message: string,
    readonly type: ErrorType,
    readonly code?: string,
    readonly param?: string,
  ) {
    super(message);
  }
}

/** Adapter names become directory lookups in some engines: only plain names, never paths. */
const ADAPTER_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export function checkAdapterName(name: string): void {
  if (!ADAPTER_NAME.test(name) || name.includes("..")) {
    throw new HttpError(
      400,
      `adapter name "${name}" is not allowed: use letters, digits, "_", "-" and "." (no paths)`,
      "invalid_request_error",
      "invalid_adapter_name",
      "model",
    );
  }
}

/** "base" | "base:adapter" | "adapter" (vLLM style) → the served id and its adapter part. */
export function resolveModel(requested: string | undefined, served: string[]): { model: string; adapter?: string } {
  const base = served[0];
  if (requested === undefined) return { model: base };
  const colon = requested.indexOf(":");
  if (colon >= 0) checkAdapterName(requested.slice(colon + 1));
  else if (requested !== base) checkAdapterName(requested);
  let model = requested;
  if (!served.includes(model) && colon < 0 && served.includes(`${base}:${requested}`)) model = `${base}:${requested}`;
  if (!served.includes(model)) {
    throw new HttpError(
      404,
      `model "${requested}" is not served here; available: ${served.join(", ")} (GET /v1/models)`,
      "not_found_error",
      "model_not_found",
      "model",
    );
  }
  const separator = model.indexOf(":");
  return separator >= 0 ? { model, adapter: model.slice(separator + 1) } : { model };
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

function errorBody(error: HttpError) {
  return { error: { message: error.message, type: error.type, param: error.param ?? null, code: error.code ?? null } };
}

function chatContent(content: ChatBody["messages"][number]["content"]): string {
  if (content === undefined || content === null) return "";
  if (typeof content === "string") return content;
  return content
    .filter((part) => part.type === "text" && typeof part.text === "string")
    .map((part) => part.text)
    .join("");
}

export function createServeApp(options: ServeAppOptions): ServeApp {
  const engine = options.engine;
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const maxTokens = options.maxTokens ?? 2048;
  const defaultMaxTokens = Math.min(options.defaultMaxTokens ?? 256, maxTokens);
  const formatDemos = options.formatDemos ?? formatDemosAlpaca;
  const queue = new RequestQueue(options.concurrency ?? 4, options.queueCapacity ?? 32);
  // One controller per running request (not AbortSignal.any on a shared shutdown signal, which
  // would pile a listener per request onto it for the life of the server).
  const live = new Set<AbortController>();
  let draining = false;
  const expectedKey = options.apiKey ? sha256(options.apiKey) : undefined;

  const app = new Hono();

  app.onError((error, c) => {
    if (error instanceof HttpError) {
      if (error.status === 429) c.header("retry-after", "1");
      return c.json(errorBody(error), error.status);
    }
    if (error instanceof QueueFullError) {
      c.header("retry-after", "1");
      return c.json(errorBody(new HttpError(429, error.message, "rate_limit_error", "queue_full")), 429);
    }
    if (error instanceof QueueClosedError) {
      return c.json(errorBody(new HttpError(503, error.message, "server_error", "shutting_down")), 503);
    }
    options.log?.(`error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    const message = error instanceof Error ? error.message : String(error);
    return c.json(errorBody(new HttpError(500, `generation failed: ${message}`, "server_error")), 500);
  });

  app.notFound((c) =>
    c.json(errorBody(new HttpError(404, `no route ${c.req.method} ${c.req.path}`, "not_found_error")), 404),
  );

  app.use("*", async (c, next) => {
    const started = performance.now();
    await next();
    options.log?.(`${c.req.method} ${c.req.path} ${c.res.status} ${(performance.now() - started).toFixed(0)}ms`);
  });

  app.get("/health", (c) =>
    c.json({ status: draining ? "draining" : "ok", active: queue.active, queued: queue.queued }, draining ? 503 : 200),
  );

  app.use("/v1/*", async (c, next) => {
    if (draining) throw new HttpError(503, "server is shutting down", "server_error", "shutting_down");
    if (expectedKey) {
      const header = c.req.header("authorization") ?? "";
      const match = /^Bearer\s+(.+)$/i.exec(header);
      // Compare digests so the comparison takes the same time whatever the key's length.
      if (!match || !timingSafeEqual(sha256(match[1].trim()), expectedKey)) {
        c.header("www-authenticate", 'Bearer realm="pillow"');
        throw new HttpError(
          401,
          match ? "invalid API key" : "missing API key: send the header `Authorization: Bearer <key>`",
          "authentication_error",
          "invalid_api_key",
        );
      }
    }
    await next();
  });

  app.use(
    "/v1/*",
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: (c) =>
        c.json(
          errorBody(
            new HttpError(413, `request body larger than ${maxBodyBytes} bytes (server limit --max-body)`, "invalid_request_error", "body_too_large"),
          ),
          413,
        ),
    }),
  );

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
      throw new HttpError(400, describeZodError(parsed.error), "invalid_request_error", "invalid_request", String(parsed.error.issues[0].path[0] ?? ""));
    }
    return parsed.data;
  }

  function tokensFor(body: CompletionBody | ChatBody): number {
    const requested = body.max_completion_tokens ?? body.max_tokens;
    if (requested !== undefined && requested > maxTokens) {
      throw new HttpError(
        400,
        `max_tokens ${requested} is above this server's limit of ${maxTokens} (--max-tokens)`,
        "invalid_request_error",
        "max_tokens_too_large",
        "max_tokens",
      );
    }
    return requested ?? defaultMaxTokens;
  }

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

  function engineRequest(
    c: Context,
    body: CompletionBody | ChatBody,
    input: { prompt: string } | { messages: ChatMessage[] },
  ): EngineRequest {
    const { model, adapter } = resolveModel(body.model, engine.models());
    const stop = body.stop === undefined ? undefined : Array.isArray(body.stop) ? body.stop : [body.stop];
    return {
      model,
      adapter,
      ...input,
      maxTokens: tokensFor(body),
      temperature: body.temperature ?? 1,
      topP: body.top_p,
      topK: body.top_k,
      minP: body.min_p,
      seed: body.seed,
      stop: stop?.filter((value) => value.length > 0),
      repetitionPenalty: body.repetition_penalty,
      frequencyPenalty: body.frequency_penalty,
      presencePenalty: body.presence_penalty,
      signal: linkedSignal(c.req.raw.signal),
    };
  }

  function linkedSignal(clientSignal: AbortSignal): AbortSignal {
    const controller = new AbortController();
    live.add(controller);
    const onClientGone = () => controller.abort();
    clientSignal.addEventListener("abort", onClientGone, { once: true });
    controller.signal.addEventListener("abort", () => clientSignal.removeEventListener("abort", onClientGone), { once: true });
    finishers.set(controller.signal, () => {
      live.delete(controller);
      clientSignal.removeEventListener("abort", onClientGone);
    });
    return controller.signal;
  }

  const finishers = new WeakMap<AbortSignal, () => void>();

  const usageOf = (promptTokens: number, completionTokens: number) => ({
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  });

  async function respond(c: Context, kind: "completion" | "chat", body: CompletionBody | ChatBody, request: EngineRequest, demos: Demo[]) {
    const id = `${kind === "chat" ? "chatcmpl" : "cmpl"}-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const object = kind === "chat" ? "chat.completion" : "text_completion";
    const extension = demos.length > 0 ? { pillow: { demos: demos.map((demo) => demo.id ?? demo.instruction) } } : {};
    // Take a slot before answering so an overloaded server can still say 429 with a status code.
    const finish = finishers.get(request.signal)!;
    let releaseSlot: () => void;
    try {
      releaseSlot = await queue.acquire(request.signal);
    } catch (error) {
      finish();
      throw error;
    }
    const release = () => {
      releaseSlot();
      finish();
    };
    if (!body.stream) {
      try {
        const result = await engine.complete(request);
        const choice =
          kind === "chat"
            ? { index: 0, message: { role: "assistant", content: result.text }, finish_reason: result.finishReason }
            : { index: 0, text: result.text, logprobs: null, finish_reason: result.finishReason };
        return c.json({
          id,
          object,
          created,
          model: request.model,
          choices: [choice],
          usage: usageOf(result.promptTokens, result.completionTokens),
          ...extension,
        });
      } finally {
        release();
      }
    }
    const includeUsage = body.stream_options?.include_usage === true;
    const chunkObject = kind === "chat" ? "chat.completion.chunk" : "text_completion";
    const chunk = (text: string | undefined, finishReason: string | null, first = false) => ({
      id,
      object: chunkObject,
      created,
      model: request.model,
      choices: [
        kind === "chat"
          ? { index: 0, delta: first ? { role: "assistant", content: text ?? "" } : text === undefined ? {} : { content: text }, finish_reason: finishReason }
          : { index: 0, text: text ?? "", logprobs: null, finish_reason: finishReason },
      ],
      ...(first ? extension : {}),
    });
    return streamSSE(
      c,
      async (stream) => {
        try {
          if (kind === "chat") await stream.writeSSE({ data: JSON.stringify(chunk("", null, true)) });
          let last: EngineChunk = { text: "" };
          let completionTokens = 0;
          for await (const piece of engine.stream(request)) {
            if (stream.aborted || request.signal.aborted) break;
            last = piece;
            completionTokens += piece.text.length > 0 ? 1 : 0;
            if (piece.text.length > 0) await stream.writeSSE({ data: JSON.stringify(chunk(piece.text, null)) });
          }
          if (!stream.aborted) {
            await stream.writeSSE({ data: JSON.stringify(chunk(undefined, last.finishReason ?? "stop")) });
            if (includeUsage) {
              const usage = usageOf(last.promptTokens ?? 0, last.completionTokens ?? completionTokens);
              await stream.writeSSE({ data: JSON.stringify({ id, object: chunkObject, created, model: request.model, choices: [], usage }) });
            }
            await stream.writeSSE({ data: "[DONE]" });
          }
        } finally {
          release();
        }
      },
      async (error, stream) => {
        // Headers are gone already: the error travels as one more event, as OpenAI does.
        const message = error instanceof Error ? error.message : String(error);
        options.log?.(`stream error: ${message}`);
        await stream.writeSSE({ data: JSON.stringify(errorBody(new HttpError(500, `generation failed: ${message}`, "server_error"))) });
        await stream.writeSSE({ data: "[DONE]" });
      },
    );
  }

  app.post("/v1/completions", async (c) => {
    const body = await readBody(c, completionBody);
    const prompt = Array.isArray(body.prompt) ? body.prompt[0] : body.prompt;
    const demos = await demosFor(body, prompt);
    const request = engineRequest(c, body, { prompt: demos.length > 0 ? formatDemos(demos, prompt) : prompt });
    return respond(c, "completion", body, request, demos);
  });

  app.post("/v1/chat/completions", async (c) => {
    const body = await readBody(c, chatBody);
    const messages: ChatMessage[] = body.messages.map((message) => ({
      role: message.role === "developer" ? "system" : message.role,
      content: chatContent(message.content),
    }));
    const demos = await demosFor(body, chatQuery(messages));
    const request = engineRequest(c, body, { messages: withDemosInChat(messages, demos, formatDemos) });
    return respond(c, "chat", body, request, demos);
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
      for (const controller of live) controller.abort(); // running generations stop at their next token
      await Promise.race([queue.whenIdle(), new Promise((resolve) => setTimeout(resolve, graceMs).unref())]);
    }
  }

  return { app, queue, drain };
}
