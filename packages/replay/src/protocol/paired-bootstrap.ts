// Paired comparison of two strategies over the same (order, seed) cells: the mean difference and a
// percentile bootstrap 95 % interval that resamples cells (each cell keeps its pair together).
import { createRandom } from "../random.js";

export type PairedInterval = { mean: number; low: number; high: number; pairs: number };

export function pairedBootstrap(differences: readonly number[], options: { resamples?: number; seed?: number; level?: number } = {}): PairedInterval {
  const resamples = options.resamples ?? 10_000;
  const level = options.level ?? 0.95;
  if (!Array.isArray(differences) || differences.length === 0) throw new RangeError("pairedBootstrap: needs at least one paired difference");
  differences.forEach((value, index) => {
    if (typeof value !== "number" || !Number.isFinite(value)) throw new RangeError(`pairedBootstrap: differences[${index}] is ${value}`);
  });
  if (!Number.isInteger(resamples) || resamples < 1) throw new RangeError(`pairedBootstrap: resamples must be an integer ≥ 1, got ${resamples}`);
  if (!(level > 0 && level < 1)) throw new RangeError(`pairedBootstrap: level must be in (0, 1), got ${level}`);
  const n = differences.length;
  const mean = differences.reduce((sum, value) => sum + value, 0) / n;
  const random = createRandom(options.seed ?? 0);
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let total = 0;
    for (let k = 0; k < n; k++) total += differences[random.integer(n)];
    means[r] = total / n;
  }
  means.sort();
  // Percentile interval with linear interpolation between order statistics (numpy's default).
  const quantile = (q: number) => {
    const position = q * (resamples - 1);
    const below = Math.floor(position);
    const above = Math.min(resamples - 1, below + 1);
    return means[below] + (means[above] - means[below]) * (position - below);
  };
  const tail = (1 - level) / 2;
  return { mean, low: quantile(tail), high: quantile(1 - tail), pairs: n };
}
