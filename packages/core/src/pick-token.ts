// The next token from one row of logits: argmax for greedy options (non-finite logits are an
// error, not a token), else the native sampler with the request's seed, step and history.
import { type Device, sample } from "@pillow/lora-kernels";
import { ModelError } from "./errors.js";
import { argmax, type GenerationOptions, isGreedy, samplingFor } from "./generation-options.js";

export function pickToken(
  logits: Float32Array,
  options: GenerationOptions,
  step: number,
  history: Int32Array,
  device: Device,
): number {
  if (isGreedy(options)) {
    const best = argmax(logits);
    if (!Number.isFinite(logits[best]))
      throw new ModelError("E_NONFINITE_LOGITS", "the model produced non-finite logits");
    return best;
  }
  return sample(logits, { rows: 1, vocab: logits.length }, { ...samplingFor(options, step, history), device })
    .tokens[0];
}
