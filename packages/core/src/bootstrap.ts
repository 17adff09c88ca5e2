// Percentile bootstrap intervals, the statistics beside every comparison pillow reports: a mean
// with its 95 % interval, and the paired interval of a difference (two methods on the same queries
// or the same (order, seed) cells, resampled together, so per-item difficulty cancels out). One
// definition for matching (rl) and continual tuning (replay).
import { createRandom } from "./random.js";

export type Interval = { mean: number; low: number; high: number };
export type BootstrapOptions = { resamples?: number; confidence?: number; seed?: number };

/**
 * Percentile bootstrap of the mean: `resamples` means of n values drawn with replacement, sorted;
 * low = the ⌊(α/2)·B⌋-th, high = the (⌈(1 − α/2)·B⌉ − 1)-th (0-based), α = 1 − confidence.
 */
export function bootstrapInterval(values: readonly number[], options: BootstrapOptions = {}): Interval {
  const { resamples = 10_000, confidence = 0.95, seed = 0 } = options;
  if (!Array.isArray(values) || values.length === 0)
    throw new RangeError("bootstrapInterval: values must be a non-empty array");
  values.forEach((value, index) => {
    if (typeof value !== "number" || !Number.isFinite(value))
      throw new RangeError(`bootstrapInterval: values[${index}] is ${String(value)}, not a finite number`);
  });
  if (!Number.isInteger(resamples) || resamples < 1)
    throw new RangeError(`bootstrapInterval: resamples must be a positive integer, got ${resamples}`);
  if (!(confidence > 0 && confidence < 1))
    throw new RangeError(`bootstrapInterval: confidence must be in (0, 1), got ${confidence}`);
  const n = values.length;
  const mean = values.reduce((sum, value) => sum + value, 0) / n;
  const random = createRandom(seed);
  const means = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) {
    let total = 0;
    for (let i = 0; i < n; i++) total += values[random.integer(n)];
    means[b] = total / n;
  }
  means.sort();
  const alpha = 1 - confidence;
  const low = means[Math.floor((alpha / 2) * resamples)];
  const high = means[Math.max(0, Math.ceil((1 - alpha / 2) * resamples) - 1)];
  return { mean, low, high };
}

/** The interval of mean(a − b) over paired values (the same items under two methods). */
export function pairedBootstrap(a: readonly number[], b: readonly number[], options: BootstrapOptions = {}): Interval {
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) {
    throw new RangeError(`pairedBootstrap: ${a?.length} values against ${b?.length}; they must be paired`);
  }
  return bootstrapInterval(
    a.map((value, index) => value - b[index]),
    options,
  );
}
