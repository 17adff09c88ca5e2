import { describe, expect, it } from "vitest";
import { bootstrapInterval, pairedBootstrap } from "./bootstrap.js";

describe("bootstrap intervals", () => {
  it("matches the hand-computed resampling distribution of [0, 0, 0, 1]", () => {
    // The resampled mean is k/4 with k ~ Binomial(4, 1/4): P(k ≤ 2) = 0.949, P(k ≤ 3) = 0.996, so the
    // 2.5 % quantile is 0 and the 97.5 % quantile is 3/4.
    const interval = bootstrapInterval([0, 0, 0, 1], { resamples: 20000, seed: 1 });
    expect(interval).toEqual({ mean: 0.25, low: 0, high: 0.75 });
  });

  it("two values: the means are 0, 1/2, 1 with probabilities 1/4, 1/2, 1/4, so the interval is [0, 1]", () => {
    expect(bootstrapInterval([0, 1], { resamples: 4000, seed: 2 })).toEqual({ mean: 0.5, low: 0, high: 1 });
    // At 40 % confidence the quantiles 0.3 and 0.7 both fall on 1/2.
    expect(bootstrapInterval([0, 1], { resamples: 4000, confidence: 0.4, seed: 2 })).toEqual({
      mean: 0.5,
      low: 0.5,
      high: 0.5,
    });
  });

  it("constant values give a point interval", () => {
    expect(bootstrapInterval([2, 2, 2])).toEqual({ mean: 2, low: 2, high: 2 });
  });

  it("paired differences cancel what the pairs share", () => {
    const a = [10, 50, 90, 30];
    const b = a.map((value) => value - 2);
    expect(pairedBootstrap(a, b)).toEqual({ mean: 2, low: 2, high: 2 });
    const wide = bootstrapInterval(a);
    expect(wide.high - wide.low).toBeGreaterThan(20);
  });

  it("approaches mean ± 1.96·sd/√n on many values", () => {
    const values = Array.from({ length: 400 }, (_, i) => (i * 37) % 101);
    const mean = values.reduce((s, v) => s + v, 0) / values.length;
    const sd = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length);
    const { low, high } = bootstrapInterval(values, { resamples: 4000 });
    expect((high - low) / 2).toBeCloseTo((1.96 * sd) / Math.sqrt(values.length), 0);
  });

  it("rejects empty, non-finite and unpaired input", () => {
    expect(() => bootstrapInterval([])).toThrow(/non-empty/);
    expect(() => bootstrapInterval([1, Number.NaN])).toThrow(/values\[1\] is NaN, not a finite number/);
    expect(() => pairedBootstrap([1], [1, 2])).toThrow(/paired/);
    expect(() => bootstrapInterval([1], { confidence: 1 })).toThrow(/confidence/);
  });
});
