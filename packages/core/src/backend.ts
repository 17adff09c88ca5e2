// The generation backend contract shared by every consumer (matcher, rl, replay, cli): the
// in-process native model and the OpenAI-compatible HTTP client both implement it, so the work can
// move to other machines without changing the caller.

import type { GenerationOptions } from "./generation-options.js";

/** The same type as GenerationOptions (generation-options.ts), under its older name. */
export type GenerateOptions = GenerationOptions;

export type Generation = { text: string; tokens?: Int32Array };

/** Σ log-probability of a continuation's tokens given its prompt, and the token count. */
export type ScoredContinuation = { logProb: number; count: number };

export interface GenerationBackend {
  /** For logs and cache keys, e.g. "native:tiny-llama+adapter" or "openai:http://host:8000". */
  readonly name: string;
  generate(prompt: string, options?: GenerationOptions): Promise<Generation>;
  /** Many prompts at once; backends batch them where they can. */
  generateBatch(prompts: string[], options?: GenerationOptions): Promise<Generation[]>;
  /** Frozen sentence embeddings (e.g. mean-pooled hidden states), one vector per text. */
  embed?(texts: string[]): Promise<Float32Array[]>;
  /**
   * Teacher-forced log-likelihood of each continuation given its prompt (no generation): one
   * batched forward pass in the native backend. Used by the matcher's "loglik" reward.
   */
  score?(pairs: { prompt: string; continuation: string }[]): Promise<ScoredContinuation[]>;
}
