// The in-process GenerationBackend: a loaded Model, optionally with one of its LoRA adapters.
import type { GenerateOptions, Generation, GenerationBackend, ScoredContinuation } from "./backend.js";
import type { GenerationOptions, Model } from "./model.js";

export type NativeBackendOptions = {
  /** The adapter to generate with (null or omitted: the base model). */
  adapter?: string | null;
  /** For logs and cache keys; default "native:<model folder>[+adapter]". */
  name?: string;
  /** Defaults merged under each call's options. */
  defaults?: GenerationOptions;
};

export class NativeBackend implements GenerationBackend {
  readonly name: string;
  private readonly model: Model;
  private readonly adapter: string | null;
  private readonly defaults: GenerationOptions;

  constructor(model: Model, options: NativeBackendOptions = {}) {
    this.model = model;
    this.adapter = options.adapter ?? null;
    if (this.adapter !== null) model.adapterConfig(this.adapter);
    this.defaults = options.defaults ?? {};
    this.name = options.name ?? `native:${model.directory}${this.adapter ? `+${this.adapter}` : ""}`;
  }

  private withAdapter<T>(body: () => Promise<T>): Promise<T> {
    return this.model.exclusive(async () => {
      this.model.setActiveAdapter(this.adapter);
      return body();
    });
  }

  async generate(prompt: string, options: GenerateOptions = {}): Promise<Generation> {
    const results = await this.generateBatch([prompt], options);
    return results[0];
  }

  async generateBatch(prompts: string[], options: GenerateOptions = {}): Promise<Generation[]> {
    const merged: GenerationOptions = { ...this.defaults, ...options };
    // Adapter switch and generation stay together: other users of the model wait their turn.
    return this.withAdapter(async () => {
      const results = await this.model.generateBatchUnlocked(prompts, merged);
      return results.map((result) => ({ text: result.text, tokens: result.tokens }));
    });
  }

  score(pairs: { prompt: string; continuation: string }[]): Promise<ScoredContinuation[]> {
    return this.withAdapter(() => this.model.scoreContinuationsUnlocked(pairs));
  }

  embed(texts: string[]): Promise<Float32Array[]> {
    return this.withAdapter(() => this.model.embedUnlocked(texts));
  }
}
