// Bootstrap intervals over queries, the statistics beside every selector comparison: a selector's
// mean with its percentile 95 % interval, and the paired interval of a difference (both selectors
// on the same queries, resampled together, so per-query difficulty cancels out).

import { createRandom } from "@pillow/matcher";

export type Interval = { mean: number; low: number; high: number };
export type BootstrapOptions = { resamples?: number; confidence?: number; seed?: number };

/**
 * Percentile bootstrap of the mean: `resamples` means of n values drawn with replacement, sorted;
 * low = the ⌊(α/2)·B⌋-th, high = the (⌈(1 − α/2)·B⌉ − 1)-th (0-based), α = 1 − confidence.
 */
export function bootstrapInterval(values: readonly number[], options: BootstrapOptions = {}): Interval {
  const { resamples = 2000, confidence = 0.95, seed = 0 } = options;
  if (!Array.isArray(values) || values.length === 0) throw new Error("bootstrapInterval: values must be a non-empty array");
  if (values.some((value) => !Number.isFinite(value))) throw new Error("bootstrapInterval: every value must be a finite number");
  if (!Number.isInteger(resamples) || resamples < 1) throw new Error(`bootstrapInterval: resamples must be a positive integer, got ${resamples}`);
  if (!(confidence > 0 && confidence < 1)) throw new Error(`bootstrapInterval: confidence must be in (0, 1), got ${confidence}`);
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

/** The interval of mean(a − b) over paired values (the same queries under two selectors). */
export function pairedBootstrap(a: readonly number[], b: readonly number[], options: BootstrapOptions = {}): Interval {
  if (a.length !== b.length) throw new Error(`pairedBootstrap: ${a.length} values against ${b.length}; they must be paired`);
  return bootstrapInterval(
    a.map((value, index) => value - b[index]),
    options,
  );
}
