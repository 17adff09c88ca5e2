// Token sampling: penalties, temperature (0 = greedy), top-k, top-p, min-p, per-row seeds and
// log-probabilities, in native code with an ...Async twin.
import { randomInt } from "node:crypto";
import type { NativeSamplingOptions, SampleResult, SampleShape } from "./AddonTypes.js";
import { type Device, resolveDevice } from "./device.js";
import { KernelError } from "./errors.js";
import { loadAddon } from "./loader.js";

export type SamplingOptions = {
  /** Divides the logits; 0 picks the argmax (logprob 0). Default 1. */
  temperature?: number;
  /** Keep the k most likely tokens (ties with the k-th are kept too); 0 = off. */
  topK?: number;
  /** Keep the smallest most-likely set holding at least this much probability; 1 = off. */
  topP?: number;
  /** Keep tokens with p >= minP · p_max; 0 = off. */
  minP?: number;
  /** CTRL/HF repetition penalty for previously seen tokens (divide positive logits, multiply negative). */
  repetitionPenalty?: number;
  /** Subtract frequencyPenalty · count for each previously seen token (OpenAI semantics). */
  frequencyPenalty?: number;
  /** Subtract presencePenalty once for each previously seen token. */
  presencePenalty?: number;
  /** Token history per row (for the penalties). */
  previousTokens?: Int32Array[];
  /**
   * Reproducibility: one seed per row, or one number from which row r uses seed + r.
   * Integers in [0, 2^53). Omitted: fresh random seeds.
   */
  seed?: number | number[];
  /** Where to sample: "cpu" or "cuda"; default PILLOW_DEVICE, else "cpu". */
  device?: Device;
};

const MAX_SEED = Number.MAX_SAFE_INTEGER;

function resolveSeeds(seed: number | number[] | undefined, rows: number): number[] {
  if (seed === undefined) {
    return Array.from({ length: rows }, () => randomInt(0, 2 ** 47) * 64 + randomInt(0, 64));
  }
  if (Array.isArray(seed)) {
    if (seed.length !== rows) {
      throw new KernelError("E_SHAPE", `options.seed has length ${seed.length}, expected ${rows} (one seed per row)`);
    }
    return seed;
  }
  if (typeof seed !== "number" || !Number.isInteger(seed) || seed < 0 || seed > MAX_SEED - rows) {
    throw new KernelError("E_ARGUMENT", `options.seed must be an integer in [0, 2^53 - rows), got ${String(seed)}`);
  }
  return Array.from({ length: rows }, (_, row) => seed + row);
}

function nativeOptions(shape: SampleShape, options: SamplingOptions): NativeSamplingOptions {
  if (typeof shape !== "object" || shape === null) throw new KernelError("E_TYPE", "shape must be an object");
  if (typeof options !== "object" || options === null) throw new KernelError("E_TYPE", "options must be an object");
  const rows = Number.isInteger(shape.rows) && shape.rows > 0 ? shape.rows : 0;
  const { seed, device, ...rest } = options;
  // An invalid rows value is reported by the native shape check; seeds only need a count here.
  return { ...rest, seeds: rows > 0 ? resolveSeeds(seed, rows) : [], device: resolveDevice(device) };
}

/** Draws one token per row of logits [rows, vocab]; logprobs are under the final filtered distribution. */
export function sample(logits: Float32Array, shape: SampleShape, options: SamplingOptions = {}): SampleResult {
  return loadAddon().sample(logits, shape, nativeOptions(shape, options));
}

/** As `sample`, computed off the JS thread. */
export function sampleAsync(
  logits: Float32Array,
  shape: SampleShape,
  options: SamplingOptions = {},
): Promise<SampleResult> {
  return loadAddon().sampleAsync(logits, shape, nativeOptions(shape, options));
}
