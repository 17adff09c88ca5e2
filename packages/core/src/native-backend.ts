// The in-process GenerationBackend, and the one adapter from a loaded Model to whatever serves it:
// generate/generateBatch for library callers (one adapter, the model's batch decode), and
// stream/complete for servers (any adapter per request, chat templates, client aborts), which run
// through a ContinuousBatcher so concurrent requests share every decode step.
import type { Generation, GenerationBackend, ScoredContinuation } from "./backend.js";
import {
  type BatchResult,
  type BatchStream,
  ContinuousBatcher,
  type ContinuousBatcherOptions,
} from "./continuous-batcher.js";
import type { GenerationChunk, GenerationOptions } from "./generation-options.js";
import { ModelError } from "./errors.js";
import type { Model } from "./model.js";
import type { ChatMessage } from "./tokenizer.js";

export type NativeBackendOptions = {
  /** The adapter generate/generateBatch/embed use (null or omitted: the base model). */
  adapter?: string | null;
  /** For logs and cache keys; default "native:<model folder>[+adapter]". */
  name?: string;
  /** Defaults merged under each call's options. */
  defaults?: GenerationOptions;
  /** Settings of the batcher behind stream/complete (created on first use). */
  batching?: ContinuousBatcherOptions;
};

/** One request of a server: exactly one of prompt and messages (rendered with the chat template). */
export type BackendRequest = {
  prompt?: string;
  messages?: ChatMessage[];
  /** Overrides the backend's adapter for this request; null = the base model. */
  adapter?: string | null;
  options?: GenerationOptions;
  signal?: AbortSignal;
};

export type BackendResult = BatchResult & { completionTokens: number };

export class NativeBackend implements GenerationBackend {
  readonly name: string;
  readonly model: Model;
  private readonly adapter: string | null;
  private readonly defaults: GenerationOptions;
  private readonly batchingOptions: ContinuousBatcherOptions;
  private batcherInstance: ContinuousBatcher | null = null;

  constructor(model: Model, options: NativeBackendOptions = {}) {
    this.model = model;
    this.adapter = options.adapter ?? null;
    if (this.adapter !== null) model.adapterConfig(this.adapter);
    this.defaults = options.defaults ?? {};
    this.batchingOptions = options.batching ?? {};
    this.name = options.name ?? `native:${model.directory}${this.adapter ? `+${this.adapter}` : ""}`;
  }

  /** The continuous batcher behind stream/complete. */
  get batcher(): ContinuousBatcher {
    this.batcherInstance ??= new ContinuousBatcher(this.model, this.batchingOptions);
    return this.batcherInstance;
  }

  private withAdapter<T>(body: () => Promise<T>): Promise<T> {
    return this.model.exclusive(async () => {
      this.model.setActiveAdapter(this.adapter);
      return body();
    });
  }

  async generate(prompt: string, options: GenerationOptions = {}): Promise<Generation> {
    const results = await this.generateBatch([prompt], options);
    return results[0];
  }

  async generateBatch(prompts: string[], options: GenerationOptions = {}): Promise<Generation[]> {
    const merged: GenerationOptions = { ...this.defaults, ...options };
    // Adapter switch and generation stay together: other users of the model wait their turn.
    return this.withAdapter(async () => {
      const results = await this.model.generateBatchUnlocked(prompts, merged);
      return results.map((result) => ({ text: result.text, tokens: result.tokens }));
    });
  }

  /** The text the model reads for a request: the prompt, or the messages through the chat template. */
  promptOf(request: BackendRequest): string {
    if (request.prompt !== undefined) return request.prompt;
    if (!this.model.tokenizer)
      throw new ModelError(
        "E_NO_TOKENIZER",
        "the model has no tokenizer.json: chat needs a chat template — use /v1/completions",
      );
    return this.model.tokenizer.applyChatTemplate(request.messages ?? [], { addGenerationPrompt: true });
  }

  /**
   * Streams one request through the batcher. Throws at once for what can be known before generating
   * (ModelError E_CONTEXT_LENGTH, E_KV_BUDGET, an unknown adapter); `result` carries the rest.
   */
  stream(request: BackendRequest): BatchStream {
    return this.batcher.submit({
      prompt: this.promptOf(request),
      options: { ...this.defaults, ...request.options },
      adapter: request.adapter === undefined ? this.adapter : request.adapter,
      signal: request.signal,
    });
  }

  /** stream, collected. */
  async complete(request: BackendRequest, onChunk?: (chunk: GenerationChunk) => void): Promise<BackendResult> {
    const stream = this.stream(request);
    for await (const chunk of stream) onChunk?.(chunk);
    const result = await stream.result;
    return { ...result, completionTokens: result.tokens.length };
  }

  /** Mean-pooled hidden states with the backend's adapter, or `adapter` when given (null = base). */
  embed(texts: string[], adapter?: string | null): Promise<Float32Array[]> {
    const chosen = adapter === undefined ? this.adapter : adapter;
    return this.model.exclusive(async () => {
      this.model.setActiveAdapter(chosen);
      return this.model.embedUnlocked(texts);
    });
  }

  /** Teacher-forced log-likelihood of each continuation given its prompt, with the backend's adapter. */
  score(pairs: { prompt: string; continuation: string }[]): Promise<ScoredContinuation[]> {
    return this.withAdapter(() => this.model.scoreContinuationsUnlocked(pairs));
  }

  /** Stops the batcher (requests still running fail with E_CLOSED). */
  async close(): Promise<void> {
    await this.batcherInstance?.close();
  }
}
