// The one description of a generation request that every layer passes through unchanged: the HTTP
// server fills it from a request body, the backends (native, openai) and the model's decode loops
// read it, and the sampler gets its fields from samplingFor. Add a knob here and it reaches the
// sampler everywhere.
import type { SamplingOptions } from "@pillow/lora-kernels";

/**
 * The sampler's knobs keep their one definition (lora-kernels' SamplingOptions: top-k, top-p, min-p,
 * repetition/frequency/presence penalties, the last two over the prompt and generated tokens);
 * generation adds what a request needs around them.
 */
export type GenerationOptions = Pick<
  SamplingOptions,
  "topK" | "topP" | "minP" | "repetitionPenalty" | "frequencyPenalty" | "presencePenalty"
> & {
  maxNewTokens?: number;
  /** 0 (default) = greedy. */
  temperature?: number;
  /** Step t of a generation samples with seed + t: reproducible per request, whatever else runs. */
  seed?: number;
  /** Stop before the first occurrence of any of these strings (not included in the text). */
  stop?: string[];
  /** Keep going past end-of-sequence tokens. */
  ignoreEos?: boolean;
  /** Encode the prompt with the tokenizer's special tokens (BOS). Default true. */
  addSpecialTokens?: boolean;
};

export type FinishReason = "stop" | "length" | "eos";

export type GenerationResult = { text: string; tokens: Int32Array; finishReason: FinishReason };

/** A generated token and the text it completes; token -1 is a final flush of held-back text. */
export type GenerationChunk = { token: number; text: string };

/** Whether the next token is the argmax of the logits (no temperature, no penalty). */
export function isGreedy(options: GenerationOptions): boolean {
  return (
    (options.temperature ?? 0) === 0 &&
    (options.repetitionPenalty ?? 1) === 1 &&
    (options.frequencyPenalty ?? 0) === 0 &&
    (options.presencePenalty ?? 0) === 0
  );
}

/** The sampler's options for generation step `step` with `history` (prompt and generated tokens). */
export function samplingFor(options: GenerationOptions, step: number, history: Int32Array): SamplingOptions {
  return {
    temperature: options.temperature ?? 0,
    topK: options.topK,
    topP: options.topP,
    minP: options.minP,
    repetitionPenalty: options.repetitionPenalty,
    frequencyPenalty: options.frequencyPenalty,
    presencePenalty: options.presencePenalty,
    previousTokens: [history],
    seed: options.seed === undefined ? undefined : options.seed + step,
  };
}

/** Index of the largest logit (the first on ties). */
export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}
