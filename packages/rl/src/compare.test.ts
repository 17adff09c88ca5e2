import { CachedEmbedder } from "@pillow/matcher";
import { describe, expect, it } from "vitest";
import { compareSelectors } from "./compare.js";
import { createSyntheticEnvironment } from "./synthetic-environment.js";

describe("compareSelectors", () => {
  it("trains per seed and ranks PILLOW above random above none on the synthetic task", async () => {
    const env = createSyntheticEnvironment({
      clusters: 4,
      entriesPerCluster: 3,
      embedDim: 8,
      trainPerCluster: 10,
      testPerCluster: 5,
      seed: 2,
    });
    // The synthetic examples carry their embeddings; the embedder is only asked for texts without one.
    const embedder = new CachedEmbedder("unused", async () => {
      throw new Error("every example has an embedding");
    });
    const result = await compareSelectors({
      backend: env.backend,
      pool: env.pool,
      embedder,
      train: env.train,
      test: env.test,
      seeds: [1, 2],
      reward: "rouge1",
      evaluationReward: "rouge1",
      template: env.template,
      matcher: { hidden: 32 },
      training: { steps: 150, lr: 0.01, entropy: 0.05 },
    });
    const mean = Object.fromEntries(result.summary.map((row) => [row.selector, row.mean]));
    expect(result.summary.map((row) => row.selector)).toEqual(["none", "random", "bm25", "knn", "pillow"]);
    expect(mean.none).toBe(0);
    expect(mean.pillow).toBeGreaterThanOrEqual(0.9);
    expect(mean.pillow).toBeGreaterThan(mean.random + 0.5);
    expect(result.summary.find((row) => row.selector === "none")!.standardDeviation).toBe(0);
    expect(result.perSeed.length).toBe(2);
    // The deterministic selectors of the second seed were answered by the shared cache.
    expect(result.cacheHits).toBeGreaterThanOrEqual(3 * env.test.length);
    expect(result.llmCalls + result.cacheHits).toBe(2 * (150 * 8 * 4 + 5 * env.test.length));
    // Statistics: intervals bracket the means; PILLOW − best baseline is paired over the same queries.
    for (const row of result.summary) {
      expect(row.interval.low).toBeLessThanOrEqual(row.mean + 1e-12);
      expect(row.interval.high).toBeGreaterThanOrEqual(row.mean - 1e-12);
    }
    expect(["none", "random", "bm25", "knn"]).toContain(result.bestBaseline);
    const best = result.summary.find((row) => row.selector === result.bestBaseline)!;
    expect(result.difference.mean).toBeCloseTo(mean.pillow - best.mean, 12);
    expect(result.difference.low).toBeGreaterThan(0);
    expect(result.difference.perSeed.length).toBe(2);
  });

  it("warm-starts towards the validation-best baseline, keeps the validation-best checkpoint and splits by kind", async () => {
    const env = createSyntheticEnvironment({
      clusters: 4,
      entriesPerCluster: 3,
      embedDim: 8,
      trainPerCluster: 10,
      testPerCluster: 5,
      seed: 3,
    });
    const embedder = new CachedEmbedder("unused", async () => {
      throw new Error("every example has an embedding");
    });
    const kindOf = (query: { query: string }) => (Number(/cluster (\d)/.exec(query.query)![1]) < 2 ? "low" : "high");
    const result = await compareSelectors({
      backend: env.backend,
      pool: env.pool,
      embedder,
      train: env.train,
      validation: env.test.slice(0, 8),
      test: env.test,
      seeds: [4],
      reward: "rouge1",
      evaluationReward: "rouge1",
      template: env.template,
      matcher: { hidden: 16, allowStop: true, features: { cosine: 1 } },
      warmStart: { teacher: "best-baseline", epochs: 5 },
      validationEvery: 10,
      kindOf,
      training: { steps: 30, lr: 0.01, entropy: 0.05 },
    });
    const run = result.perSeed[0];
    const validation = result.validationBaselines!;
    const chosen = ["none", "bm25", "knn"].reduce((a, b) => (validation[b] > validation[a] ? b : a));
    expect(run.warmStart!.teacher).toBe(chosen);
    expect(run.validationCurve.map((point) => point.step)).toEqual([0, 10, 20, 30]);
    const bestPoint = run.validationCurve.reduce((a, b) => (b.score > a.score ? b : a));
    expect(run.keptStep).toBe(bestPoint.step);
    expect(result.kinds).toEqual(["high", "low"]);
    const pillow = result.summary.find((row) => row.selector === "pillow")!;
    expect(pillow.byKind.low.count + pillow.byKind.high.count).toBe(env.test.length);
    expect(
      (pillow.byKind.low.mean * pillow.byKind.low.count + pillow.byKind.high.mean * pillow.byKind.high.count) /
        env.test.length,
    ).toBeCloseTo(pillow.mean, 12);
    for (const kind of result.kinds) expect(Number.isFinite(result.difference.byKind[kind].mean)).toBe(true);
    await expect(
      compareSelectors({
        backend: env.backend,
        pool: env.pool,
        embedder,
        train: env.train,
        test: env.test,
        warmStart: { teacher: "best-baseline" },
      }),
    ).rejects.toThrow(/need validation queries/);
  });
});
