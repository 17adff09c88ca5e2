// The `openai` generation backend: any OpenAI-compatible HTTP server (vLLM with LoRA modules,
// llama.cpp's server, Ollama, TGI, `pillow serve`) behind the same GenerationBackend contract as the
// in-process model. Several endpoints are balanced (least busy first, round-robin among equals), so
// matching, RL rollouts and continual evaluation can fan out past one machine.
import type { Generation, GenerationBackend } from "./backend.js";
import type { GenerationOptions } from "./generation-options.js";

export type OpenAIBackendOptions = {
  /** Base URLs, e.g. "http://10.0.0.5:8000" or "http://10.0.0.5:8000/v1" (the "/v1" is added when missing). */
  endpoints: string[];
  /** The `model` field sent with every request; for `pillow serve` and vLLM "base:adapter" or the LoRA module name. */
  model: string;
  /** Sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Per-attempt limit in milliseconds, response body included (default 120000). */
  timeoutMs?: number;
  /** Extra attempts after the first on 429, 5xx, network errors and timeouts (default 3). */
  retries?: number;
  /** "completions" posts raw prompts to /v1/completions; "chat" wraps each prompt as one user message. */
  completionPath?: "completions" | "chat";
  /** First backoff delay in milliseconds; doubles each attempt, with jitter (default 250). */
  backoffMs?: number;
  /** Upper bound of one backoff delay in milliseconds (default 10000). */
  maxBackoffMs?: number;
  /** Requests in flight per endpoint during generateBatch/embed (default 4). */
  concurrencyPerEndpoint?: number;
  /** Model name for /v1/embeddings (default: `model`). */
  embeddingModel?: string;
  /** Texts per /v1/embeddings request (default 64). */
  embeddingBatchSize?: number;
  /** Temperature when the caller gives none: 0 (greedy) so both backends agree by default. */
  defaultTemperature?: number;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
  /** Injected for tests; defaults to the global fetch. */
  fetch?: typeof fetch;
};

/** A failed request, after retries where they apply; the message names the endpoint and what to do. */
export class OpenAIBackendError extends Error {
  readonly code: string;
  readonly endpoint: string;
  readonly status?: number;
  constructor(message: string, code: string, endpoint: string, status?: number) {
    super(message);
    this.name = "OpenAIBackendError";
    this.code = code;
    this.endpoint = endpoint;
    this.status = status;
  }
}

/** One streamed piece of a completion; the stream's return value has the finish reason. */
export type OpenAIStreamChunk = { text: string };
export type OpenAIStreamEnd = { text: string; finishReason: string | null };

export interface OpenAIBackend extends GenerationBackend {
  embed(texts: string[]): Promise<Float32Array[]>;
  /**
   * One completion streamed over SSE (`stream: true`) as its text arrives. Retries (429, 5xx,
   * network) happen before the first byte only; `signal` aborts the request.
   */
  generateStream(
    prompt: string,
    options?: GenerationOptions,
    signal?: AbortSignal,
  ): AsyncGenerator<OpenAIStreamChunk, OpenAIStreamEnd>;
  /** Requests currently in flight per endpoint (for logs and tests). */
  inFlight(): Record<string, number>;
}

type Endpoint = { url: string; inFlight: number; failures: number; unhealthyUntil: number };

/** An SSE response whose body the caller reads (attempt in streaming mode). */
type OpenStream = { response: Response; controller: AbortController; detach: () => void };

type AttemptFailure = { retryable: boolean; error: OpenAIBackendError; retryAfterMs?: number };

const RETRYABLE_STATUS = new Set([408, 409, 425, 429, 500, 502, 503, 504]);

/** "http://h:1/" → "http://h:1/v1"; "http://h:1/v1/" → "http://h:1/v1". */
export function normalizeEndpoint(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new Error(`openai backend: endpoint "${raw}" is not a URL — pass e.g. http://127.0.0.1:8000/v1`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`openai backend: endpoint "${raw}" must use http or https`);
  }
  let base = `${url.origin}${url.pathname}`.replace(/\/+$/, "");
  if (!base.endsWith("/v1")) base = `${base}/v1`;
  return base;
}

function positiveInteger(value: number | undefined, fallback: number, field: string, minimum = 0): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < minimum || Math.floor(value) !== value) {
    throw new Error(`openai backend: ${field} must be an integer ≥ ${minimum}, got ${value}`);
  }
  return value;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function createOpenAIBackend(options: OpenAIBackendOptions): OpenAIBackend {
  if (!Array.isArray(options.endpoints) || options.endpoints.length === 0) {
    throw new Error("openai backend: no endpoints — pass at least one URL (e.g. --endpoint http://127.0.0.1:8000)");
  }
  if (typeof options.model !== "string" || options.model.length === 0) {
    throw new Error("openai backend: model is empty — pass the served model name (see GET /v1/models)");
  }
  const endpoints: Endpoint[] = options.endpoints.map((raw) => ({
    url: normalizeEndpoint(raw),
    inFlight: 0,
    failures: 0,
    unhealthyUntil: 0,
  }));
  const timeoutMs = positiveInteger(options.timeoutMs, 120_000, "timeoutMs", 1);
  const retries = positiveInteger(options.retries, 3, "retries");
  const backoffMs = positiveInteger(options.backoffMs, 250, "backoffMs");
  const maxBackoffMs = positiveInteger(options.maxBackoffMs, 10_000, "maxBackoffMs");
  const concurrencyPerEndpoint = positiveInteger(options.concurrencyPerEndpoint, 4, "concurrencyPerEndpoint", 1);
  const embeddingBatchSize = positiveInteger(options.embeddingBatchSize, 64, "embeddingBatchSize", 1);
  const completionPath = options.completionPath ?? "completions";
  if (completionPath !== "completions" && completionPath !== "chat") {
    throw new Error(`openai backend: completionPath must be "completions" or "chat", got "${completionPath}"`);
  }
  const fetchImplementation = options.fetch ?? globalThis.fetch;
  let cursor = 0;

  // Least busy among the healthy endpoints; round-robin among ties so equal servers share the load.
  // An endpoint that just failed is skipped for a short cool-down unless every endpoint is cooling down.
  function pickEndpoint(avoid?: Endpoint): Endpoint {
    const now = Date.now();
    let candidates = endpoints.filter((endpoint) => endpoint.unhealthyUntil <= now && endpoint !== avoid);
    if (candidates.length === 0) candidates = endpoints.filter((endpoint) => endpoint !== avoid);
    if (candidates.length === 0) candidates = endpoints;
    let best: Endpoint | undefined;
    for (let offset = 0; offset < endpoints.length; offset++) {
      const endpoint = endpoints[(cursor + offset) % endpoints.length];
      if (!candidates.includes(endpoint)) continue;
      if (best === undefined || endpoint.inFlight < best.inFlight) best = endpoint;
    }
    cursor = (cursor + 1) % endpoints.length;
    return best!;
  }

  function backoffDelay(attempt: number, retryAfterMs?: number): number {
    const exponential = Math.min(maxBackoffMs, backoffMs * 2 ** attempt);
    // Equal jitter: half fixed, half random, so many clients retrying together spread out.
    const jittered = exponential / 2 + Math.random() * (exponential / 2);
    return retryAfterMs !== undefined ? Math.min(maxBackoffMs, Math.max(retryAfterMs, jittered)) : jittered;
  }

  async function attempt(
    endpoint: Endpoint,
    route: string,
    body: unknown,
    stream?: { signal?: AbortSignal },
  ): Promise<unknown> {
    const url = `${endpoint.url}/${route}`;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    const onCallerAbort = () => controller.abort();
    stream?.signal?.addEventListener("abort", onCallerAbort, { once: true });
    let handedOver = false;
    const headers: Record<string, string> = { "content-type": "application/json", ...options.headers };
    if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
    endpoint.inFlight += 1;
    try {
      let response: Response;
      let text: string;
      try {
        response = await fetchImplementation(url, {
          method: "POST",
          headers,
          body: JSON.stringify(body),
          signal: controller.signal,
        });
        if (stream && response.ok) {
          // The body is read by the caller: the timeout covered the wait for the headers only.
          clearTimeout(timer);
          handedOver = true;
          return {
            response,
            controller,
            detach: () => stream.signal?.removeEventListener("abort", onCallerAbort),
          } satisfies OpenStream;
        }
        text = await response.text();
      } catch (cause) {
        if (stream?.signal?.aborted) throw stream.signal.reason ?? cause;
        const timedOut = controller.signal.aborted;
        const reason = timedOut ? `timed out after ${timeoutMs} ms` : `network error: ${describeCause(cause)}`;
        throw {
          retryable: true,
          error: new OpenAIBackendError(
            `openai backend: POST ${url} ${reason} — is the server running and reachable?`,
            timedOut ? "TIMEOUT" : "NETWORK",
            endpoint.url,
          ),
        } satisfies AttemptFailure;
      }
      if (!response.ok) {
        const message = errorMessageOf(text);
        const hint =
          response.status === 401 || response.status === 403
            ? " — pass the server's API key (--api-key / apiKey)"
            : response.status === 404
              ? ` — check the model name "${body && (body as { model?: string }).model}" (GET ${endpoint.url}/models) and the endpoint path`
              : "";
        const retryAfter = response.headers.get("retry-after");
        const retryAfterSeconds = retryAfter === null ? Number.NaN : Number(retryAfter);
        throw {
          retryable: RETRYABLE_STATUS.has(response.status),
          retryAfterMs: Number.isFinite(retryAfterSeconds) ? retryAfterSeconds * 1000 : undefined,
          error: new OpenAIBackendError(
            `openai backend: POST ${url} returned ${response.status}${message ? `: ${message}` : ""}${hint}`,
            `HTTP_${response.status}`,
            endpoint.url,
            response.status,
          ),
        } satisfies AttemptFailure;
      }
      try {
        return JSON.parse(text);
      } catch {
        throw {
          retryable: false,
          error: new OpenAIBackendError(
            `openai backend: POST ${url} answered with invalid JSON: ${text.slice(0, 200)}`,
            "BAD_RESPONSE",
            endpoint.url,
          ),
        } satisfies AttemptFailure;
      }
    } finally {
      clearTimeout(timer);
      endpoint.inFlight -= 1;
      if (!handedOver) stream?.signal?.removeEventListener("abort", onCallerAbort);
    }
  }

  async function request(
    route: string,
    body: unknown,
    stream?: { signal?: AbortSignal },
  ): Promise<{ json: unknown; endpoint: string }> {
    let previous: Endpoint | undefined;
    let lastFailure: AttemptFailure | undefined;
    for (let attemptIndex = 0; attemptIndex <= retries; attemptIndex++) {
      // A retry goes to another endpoint when there is one: the failing server may be the problem.
      const endpoint = pickEndpoint(previous);
      try {
        const json = await attempt(endpoint, route, body, stream);
        endpoint.failures = 0;
        endpoint.unhealthyUntil = 0;
        return { json, endpoint: endpoint.url };
      } catch (thrown) {
        if (!isAttemptFailure(thrown)) throw thrown;
        lastFailure = thrown;
        if (!thrown.retryable) throw thrown.error;
        endpoint.failures += 1;
        endpoint.unhealthyUntil = Date.now() + Math.min(maxBackoffMs, backoffMs * 2 ** endpoint.failures);
        previous = endpoint;
        if (attemptIndex < retries) await sleep(backoffDelay(attemptIndex, thrown.retryAfterMs));
      }
    }
    const error = lastFailure!.error;
    error.message = `${error.message} (gave up after ${retries + 1} attempt${retries === 0 ? "" : "s"})`;
    throw error;
  }

  function samplingFields(generateOptions: GenerationOptions = {}): Record<string, unknown> {
    const fields: Record<string, unknown> = {
      model: options.model,
      temperature: generateOptions.temperature ?? options.defaultTemperature ?? 0,
    };
    if (generateOptions.maxNewTokens !== undefined) fields.max_tokens = generateOptions.maxNewTokens;
    if (generateOptions.topP !== undefined) fields.top_p = generateOptions.topP;
    // top_k and min_p are not in OpenAI's schema; vLLM, llama.cpp, Ollama and pillow serve accept them.
    if (generateOptions.topK !== undefined) fields.top_k = generateOptions.topK;
    if (generateOptions.minP !== undefined) fields.min_p = generateOptions.minP;
    if (generateOptions.seed !== undefined) fields.seed = generateOptions.seed;
    if (generateOptions.stop !== undefined && generateOptions.stop.length > 0) fields.stop = generateOptions.stop;
    if (generateOptions.frequencyPenalty !== undefined) fields.frequency_penalty = generateOptions.frequencyPenalty;
    if (generateOptions.presencePenalty !== undefined) fields.presence_penalty = generateOptions.presencePenalty;
    // repetition_penalty and ignore_eos: vLLM's and pillow serve's extensions.
    if (generateOptions.repetitionPenalty !== undefined) fields.repetition_penalty = generateOptions.repetitionPenalty;
    if (generateOptions.ignoreEos) fields.ignore_eos = true;
    return fields;
  }

  async function generate(prompt: string, generateOptions?: GenerationOptions): Promise<Generation> {
    if (typeof prompt !== "string") throw new TypeError("openai backend: prompt must be a string");
    const fields = samplingFields(generateOptions);
    if (completionPath === "chat") {
      const { json, endpoint } = await request("chat/completions", {
        ...fields,
        messages: [{ role: "user", content: prompt }],
      });
      const content = (json as { choices?: { message?: { content?: unknown } }[] }).choices?.[0]?.message?.content;
      if (typeof content !== "string") throw badShape(endpoint, "chat/completions", "choices[0].message.content");
      return { text: content };
    }
    const { json, endpoint } = await request("completions", { ...fields, prompt });
    const text = (json as { choices?: { text?: unknown }[] }).choices?.[0]?.text;
    if (typeof text !== "string") throw badShape(endpoint, "completions", "choices[0].text");
    return { text };
  }

  async function mapConcurrent<T, R>(items: T[], work: (item: T) => Promise<R>): Promise<R[]> {
    const results = new Array<R>(items.length);
    let next = 0;
    const workers = Math.min(items.length, concurrencyPerEndpoint * endpoints.length);
    let failed: unknown;
    await Promise.all(
      Array.from({ length: workers }, async () => {
        while (next < items.length && failed === undefined) {
          const index = next++;
          try {
            results[index] = await work(items[index]);
          } catch (error) {
            failed ??= error;
          }
        }
      }),
    );
    if (failed !== undefined) throw failed;
    return results;
  }

  async function embed(texts: string[]): Promise<Float32Array[]> {
    if (!Array.isArray(texts)) throw new TypeError("openai backend: embed expects an array of strings");
    const batches: string[][] = [];
    for (let start = 0; start < texts.length; start += embeddingBatchSize) {
      batches.push(texts.slice(start, start + embeddingBatchSize));
    }
    const vectors = await mapConcurrent(batches, async (batch) => {
      const { json, endpoint } = await request("embeddings", {
        model: options.embeddingModel ?? options.model,
        input: batch,
      });
      const data = (json as { data?: { index?: number; embedding?: unknown }[] }).data;
      if (!Array.isArray(data) || data.length !== batch.length) {
        throw badShape(endpoint, "embeddings", `data (expected ${batch.length} entries)`);
      }
      // Servers may answer out of order; `index` says which input each vector belongs to.
      const ordered = new Array<Float32Array>(batch.length);
      data.forEach((entry, position) => {
        const index = typeof entry.index === "number" ? entry.index : position;
        if (!Array.isArray(entry.embedding) || index < 0 || index >= batch.length) {
          throw badShape(endpoint, "embeddings", `data[${position}].embedding`);
        }
        ordered[index] = Float32Array.from(entry.embedding as number[]);
      });
      if (ordered.some((vector) => vector === undefined)) throw badShape(endpoint, "embeddings", "data[].index");
      return ordered;
    });
    return vectors.flat();
  }

  async function* generateStream(
    prompt: string,
    generateOptions?: GenerationOptions,
    signal?: AbortSignal,
  ): AsyncGenerator<OpenAIStreamChunk, OpenAIStreamEnd> {
    if (typeof prompt !== "string") throw new TypeError("openai backend: prompt must be a string");
    const chat = completionPath === "chat";
    const route = chat ? "chat/completions" : "completions";
    const body = {
      ...samplingFields(generateOptions),
      ...(chat ? { messages: [{ role: "user", content: prompt }] } : { prompt }),
      stream: true,
    };
    const { json, endpoint } = await request(route, body, { signal });
    const { response, controller, detach } = json as OpenStream;
    const reader = (response.body as ReadableStream<Uint8Array>).pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    let finishReason: string | null = null;
    let buffer = "";
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let newline = buffer.indexOf("\n");
        while (newline >= 0) {
          const line = buffer.slice(0, newline).replace(/\r$/, "");
          buffer = buffer.slice(newline + 1);
          newline = buffer.indexOf("\n");
          if (!line.startsWith("data:")) continue;
          const data = line.slice(5).trim();
          if (data === "[DONE]") return { text, finishReason };
          let event: {
            error?: { message?: string } | string;
            choices?: { text?: string; delta?: { content?: string | null }; finish_reason?: string | null }[];
          };
          try {
            event = JSON.parse(data);
          } catch {
            throw new OpenAIBackendError(
              `openai backend: ${endpoint}/${route} streamed invalid JSON: ${data.slice(0, 200)}`,
              "BAD_RESPONSE",
              endpoint,
            );
          }
          if (event.error !== undefined) {
            const message = typeof event.error === "string" ? event.error : (event.error.message ?? "unknown error");
            throw new OpenAIBackendError(
              `openai backend: ${endpoint}/${route} failed while streaming: ${message}`,
              "STREAM_ERROR",
              endpoint,
            );
          }
          const choice = event.choices?.[0];
          if (!choice) continue; // the usage chunk
          const piece = (chat ? choice.delta?.content : choice.text) ?? "";
          if (choice.finish_reason) finishReason = choice.finish_reason;
          if (piece) {
            text += piece;
            yield { text: piece };
          }
        }
      }
      throw new OpenAIBackendError(
        `openai backend: ${endpoint}/${route} ended the stream without data: [DONE]`,
        "BAD_RESPONSE",
        endpoint,
      );
    } finally {
      detach();
      controller.abort(); // a consumer that stops early closes the connection
      reader.releaseLock();
    }
  }

  return {
    name: `openai:${endpoints.map((endpoint) => endpoint.url).join(",")}#${options.model}`,
    generate,
    generateStream,
    generateBatch: (prompts, generateOptions) => mapConcurrent(prompts, (prompt) => generate(prompt, generateOptions)),
    embed,
    inFlight: () => Object.fromEntries(endpoints.map((endpoint) => [endpoint.url, endpoint.inFlight])),
  };
}

function isAttemptFailure(value: unknown): value is AttemptFailure {
  return typeof value === "object" && value !== null && (value as AttemptFailure).error instanceof OpenAIBackendError;
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const inner = (cause as Error & { cause?: unknown }).cause;
    return inner instanceof Error ? `${cause.message} (${inner.message})` : cause.message;
  }
  return String(cause);
}

function errorMessageOf(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: { message?: string } | string; message?: string; detail?: string };
    if (typeof parsed.error === "string") return parsed.error;
    return parsed.error?.message ?? parsed.message ?? parsed.detail ?? text.slice(0, 200);
  } catch {
    return text.slice(0, 200);
  }
}

function badShape(endpoint: string, route: string, field: string): OpenAIBackendError {
  return new OpenAIBackendError(
    `openai backend: ${endpoint}/${route} answered without ${field} — is it an OpenAI-compatible server?`,
    "BAD_RESPONSE",
    endpoint,
  );
}
