import { CachedEmbedder } from "@pillow/matcher";
import { describe, expect, it } from "vitest";
import { compareSelectors } from "./compare.js";
import { createSyntheticEnvironment } from "./synthetic-environment.js";

describe("compareSelectors", () => {
  it("trains per seed and ranks PILLOW above random above none on the synthetic task", async () => {
    const env = createSyntheticEnvironment({ clusters: 4, entriesPerCluster: 3, embedDim: 8, trainPerCluster: 10, testPerCluster: 5, seed: 2 });
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
  });
});
