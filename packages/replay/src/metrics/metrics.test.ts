import { describe, expect, it } from "vitest";
import { continualMetrics } from "./continual-metrics.js";
import { scoreHeatmapSvg } from "./heatmap-svg.js";

describe("continualMetrics (hand-computed)", () => {
  const scores = [[50], [40, 60], [30, 45, 80]];
  it("AP, RG, BWT and forgetting", () => {
    const metrics = continualMetrics(scores);
    expect(metrics.ap).toEqual([50, 50, expect.closeTo(155 / 3, 12)]);
    expect(Number.isNaN(metrics.relativeGain[0])).toBe(true);
    expect(metrics.relativeGain[1]).toBeCloseTo((40 / 50) * 100, 12);
    expect(metrics.relativeGain[2]).toBeCloseTo(((30 / 50) * 100 + (45 / 60) * 100) / 2, 12);
    // BWT = ((30 − 50) + (45 − 60)) / 2.
    expect(metrics.bwt).toBeCloseTo(-17.5, 12);
    // Task 0 peaked at 50, ends at 30; task 1 peaked at 60, ends at 45; the last task forgets nothing.
    expect(metrics.forgetting).toEqual([20, 15, 0]);
  });
  it("skips zero diagonal scores in RG and rejects malformed matrices", () => {
    expect(continualMetrics([[0], [10, 20]]).relativeGain[1]).toBeNaN();
    expect(continualMetrics([[0], [10, 20], [5, 10, 1]]).relativeGain[2]).toBeCloseTo(50, 12);
    expect(() => continualMetrics([])).toThrow(/non-empty/);
    expect(() => continualMetrics([[1], [2]])).toThrow(/scores\[1\] must hold the scores of tasks 0..1/);
    expect(() => continualMetrics([[1], [Number.NaN, 2]])).toThrow(/scores\[1\]\[0\] is NaN/);
  });
});

describe("scoreHeatmapSvg", () => {
  it("draws one cell per seen (stage, task) pair with escaped labels", () => {
    const svg = scoreHeatmapSvg([[50], [40, 60]], { labels: ["a<b", "c"], title: "R & co" });
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.endsWith("</svg>")).toBe(true);
    expect(svg.match(/<rect /g)?.length).toBe(3);
    expect(svg).toContain("a&lt;b");
    expect(svg).toContain("R &amp; co");
    expect(svg).toContain(">60.0<");
    // The highest score takes the top colour of the scale, the lowest a darker one.
    expect(svg).toContain('fill="rgb(253,231,37)"');
    expect(() => scoreHeatmapSvg([[1], [1, 2]], { labels: ["only one"] })).toThrow(/2 stages but only 1 labels/);
  });
});
