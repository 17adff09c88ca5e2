import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MatchingNetwork, type SelectionTrace } from "./matching-network.js";
import { createRandom } from "./random.js";

function randomVectors(count: number, dimension: number, seed: number): Float32Array[] {
  const random = createRandom(seed);
  return Array.from({ length: count }, () => Float32Array.from({ length: dimension }, () => random.normal()));
}

/** Objective whose gradient accumulateGradients computes, evaluated from scratch. */
function objective(
  network: MatchingNetwork,
  query: Float32Array,
  pool: { embeddings: Float32Array[] },
  trajectory: { ids: number[]; stopped: boolean },
  logProbWeights: number[],
  entropyWeights: number[],
  budget?: { limit: number; costs: number[] },
  features?: Float64Array,
): number {
  const trace = network.trace(query, network.encodePool(pool), { forced: trajectory, budget, features });
  return trace.steps.reduce(
    (sum, step, t) => sum + logProbWeights[t] * step.logProb + entropyWeights[t] * step.entropy,
    0,
  );
}

describe("MatchingNetwork gradients", () => {
  for (const [allowStop, features] of [
    [false, {}],
    [true, {}],
    [true, { cosine: 2.5 }],
    [false, { cosine: -1.5 }],
    [true, { cosine: 1, bm25: 0.8, sameInstruction: -0.6 }],
    [false, { bm25: 1.2, sameInstruction: 2 }],
  ] as const) {
    it(`match central finite differences of weighted log-prob + entropy (allowStop=${allowStop}, features=${JSON.stringify(features)})`, () => {
      const embedDim = 5;
      const network = new MatchingNetwork({ embedDim, hidden: 4, steps: 3, allowStop, seed: 3, features });
      const featureCount = network.featureNames.length;
      expect(network.featureNames).toEqual(Object.keys(features));
      // Larger weights than the default initialisation so the policy is far from uniform.
      for (let i = 0; i < network.parameters.length; i++) network.parameters[i] *= 2.5;
      if (featureCount > 0)
        expect(Array.from(network.tensor("features.weight"))).toEqual(Object.values(features).map((w) => 2.5 * w));
      if (allowStop) network.tensor("stop").set([0.3, -0.2, 0.5, 0.1]);
      network.parametersChanged();
      const pool = { embeddings: randomVectors(6, embedDim, 11) };
      const query = randomVectors(1, embedDim, 12)[0];
      const trajectory = allowStop ? { ids: [4, 1], stopped: true } : { ids: [4, 1, 2], stopped: false };
      // Feature values as a CandidateFeatureSpace would give them: continuous and 0/1 columns.
      const random = createRandom(13);
      const featureMatrix =
        featureCount > 0
          ? Float64Array.from({ length: 6 * featureCount }, (_, i) =>
              i % 3 === 2 ? Number(random.next() < 0.5) : random.next(),
            )
          : undefined;
      const logProbWeights = [0.7, -1.3, 0.4];
      const entropyWeights = [0.2, 0.5, -0.3];

      const encoding = network.encodePool(pool);
      const trace: SelectionTrace = network.trace(query, encoding, { forced: trajectory, features: featureMatrix });
      expect(trace.ids).toEqual(trajectory.ids);
      network.zeroGradients();
      network.accumulateGradients(
        trace,
        encoding,
        logProbWeights.slice(0, trace.steps.length),
        entropyWeights.slice(0, trace.steps.length),
      );
      network.backwardPool(encoding);
      const analytic = network.gradients.slice();

      const epsilon = 1e-6;
      let worst = 0;
      for (let i = 0; i < network.parameters.length; i++) {
        const original = network.parameters[i];
        network.parameters[i] = original + epsilon;
        const plus = objective(
          network,
          query,
          pool,
          trajectory,
          logProbWeights,
          entropyWeights,
          undefined,
          featureMatrix,
        );
        network.parameters[i] = original - epsilon;
        const minus = objective(
          network,
          query,
          pool,
          trajectory,
          logProbWeights,
          entropyWeights,
          undefined,
          featureMatrix,
        );
        network.parameters[i] = original;
        const numeric = (plus - minus) / (2 * epsilon);
        worst = Math.max(worst, Math.abs(numeric - analytic[i]) / Math.max(1, Math.abs(numeric)));
      }
      expect(worst).toBeLessThan(1e-7);
      // The check is not vacuous: the gradient is far from zero.
      expect(Math.max(...Array.from(analytic, Math.abs))).toBeGreaterThan(1e-2);
      if (featureCount > 0) {
        const featureGradient = network.tensor("features.weight", "gradients");
        expect(Math.min(...Array.from(featureGradient, Math.abs))).toBeGreaterThan(1e-4);
      }
    });
  }

  it("finite differences also hold when the context budget masks entries", () => {
    const network = new MatchingNetwork({ embedDim: 3, hidden: 3, steps: 2, seed: 5 });
    const pool = { embeddings: randomVectors(5, 3, 1) };
    const query = randomVectors(1, 3, 2)[0];
    const budget = { limit: 10, costs: [6, 3, 5, 9, 4] };
    const trajectory = { ids: [1, 2], stopped: false };
    const encoding = network.encodePool(pool);
    const trace = network.trace(query, encoding, { forced: trajectory, budget });
    // After choosing entry 1 (cost 3), only entries with cost <= 7 remain: 0, 2, 4.
    expect(Array.from(trace.steps[1].candidates)).toEqual([0, 2, 4]);
    network.zeroGradients();
    network.accumulateGradients(trace, encoding, 1, 0);
    network.backwardPool(encoding);
    const epsilon = 1e-6;
    for (let i = 0; i < network.parameters.length; i += 3) {
      const original = network.parameters[i];
      network.parameters[i] = original + epsilon;
      const plus = objective(network, query, pool, trajectory, [1, 1], [0, 0], budget);
      network.parameters[i] = original - epsilon;
      const minus = objective(network, query, pool, trajectory, [1, 1], [0, 0], budget);
      network.parameters[i] = original;
      expect(network.gradients[i]).toBeCloseTo((plus - minus) / (2 * epsilon), 7);
    }
  });
});

describe("MatchingNetwork selection", () => {
  const embedDim = 4;
  const pool = { embeddings: randomVectors(4, embedDim, 21) };
  const query = randomVectors(1, embedDim, 22)[0];

  it("assigns probabilities over all ordered trajectories that sum to one", () => {
    const network = new MatchingNetwork({ embedDim, hidden: 5, steps: 2, seed: 1 });
    let total = 0;
    for (let a = 0; a < 4; a++) {
      for (let b = 0; b < 4; b++) {
        if (a === b) continue;
        total += Math.exp(
          network.trace(query, network.encodePool(pool), { forced: { ids: [a, b], stopped: false } }).logProb,
        );
      }
    }
    expect(total).toBeCloseTo(1, 12);
  });

  it("with STOP, probabilities over every stopping point also sum to one", () => {
    const network = new MatchingNetwork({ embedDim, hidden: 5, steps: 2, allowStop: true, seed: 2 });
    const encoding = network.encodePool(pool);
    let total = Math.exp(network.trace(query, encoding, { forced: { ids: [], stopped: true } }).logProb);
    for (let a = 0; a < 4; a++) {
      total += Math.exp(network.trace(query, encoding, { forced: { ids: [a], stopped: true } }).logProb);
      for (let b = 0; b < 4; b++) {
        if (a !== b)
          total += Math.exp(network.trace(query, encoding, { forced: { ids: [a, b], stopped: false } }).logProb);
      }
    }
    expect(total).toBeCloseTo(1, 12);
  });

  it("never repeats an entry, greedy is deterministic, and sampling is reproducible from the seed", () => {
    const network = new MatchingNetwork({ embedDim, hidden: 5, steps: 3, seed: 4 });
    const greedy = network.select(query, pool, { mode: "greedy" });
    expect(new Set(greedy.ids).size).toBe(3);
    expect(network.select(query, pool, { mode: "greedy" })).toEqual(greedy);
    // Greedy picks the argmax at every step: no other first choice is more probable.
    const encoding = network.encodePool(pool);
    const greedyTrace = network.trace(query, encoding, { forced: greedy });
    expect(greedyTrace.logProb).toBeCloseTo(greedy.logProb, 12);
    const best = Math.max(...greedyTrace.steps[0].probabilities);
    expect(Math.exp(greedyTrace.steps[0].logProb)).toBe(best);
    expect(Math.exp(greedyTrace.steps[1].logProb)).toBe(Math.max(...greedyTrace.steps[1].probabilities));
    const first = network.select(query, pool, { mode: "sample", seed: 9 });
    expect(network.select(query, pool, { mode: "sample", seed: 9 })).toEqual(first);
    const draws = new Set<string>();
    for (let seed = 0; seed < 40; seed++)
      draws.add(network.select(query, pool, { mode: "sample", seed }).ids.join(","));
    expect(draws.size).toBeGreaterThan(3);
  });

  it("masks entries that would overflow the context budget and stops when nothing fits", () => {
    const network = new MatchingNetwork({ embedDim, hidden: 5, steps: 3, seed: 4 });
    const costs = [5, 5, 100, 5];
    for (let seed = 0; seed < 20; seed++) {
      const { ids } = network.select(query, pool, { mode: "sample", seed, budget: { limit: 10, costs } });
      expect(ids.length).toBe(2);
      expect(ids).not.toContain(2);
    }
    expect(network.select(query, pool, { budget: { limit: 4, costs } }).ids).toEqual([]);
  });

  it("with a cosine feature weight and tiny MLP weights, greedy selection is the cosine top-k", () => {
    const network = new MatchingNetwork({ embedDim, hidden: 5, steps: 3, seed: 4, features: { cosine: 10 } });
    const weight = network.tensor("features.weight")[0];
    for (let i = 0; i < network.parameters.length; i++) network.parameters[i] *= 1e-6;
    network.tensor("features.weight")[0] = weight;
    network.parametersChanged();
    const cosine = (a: Float32Array, b: Float32Array) => {
      let product = 0;
      let aa = 0;
      let bb = 0;
      for (let i = 0; i < a.length; i++) {
        product += a[i] * b[i];
        aa += a[i] * a[i];
        bb += b[i] * b[i];
      }
      return product / Math.sqrt(aa * bb);
    };
    const ranked = pool.embeddings.map((vector, index) => [cosine(query, vector), index]).sort((a, b) => b[0] - a[0]);
    const features = Float64Array.from(pool.embeddings, (vector) => cosine(query, vector));
    expect(network.select(query, pool, { features }).ids).toEqual(ranked.slice(0, 3).map(([, index]) => index));
    expect(() => network.select(query, pool)).toThrow(
      /scores with features \[cosine\]: pass options.features with 4 × 1 values/,
    );
    expect(() => new MatchingNetwork({ embedDim, features: { cosine: Number.NaN } })).toThrow(
      /features.cosine must be a finite number/,
    );
    expect(() => new MatchingNetwork({ embedDim, features: { length: 1 } as never })).toThrow(
      /unknown feature "length"/,
    );
  });

  it("rejects wrong dimensions and bad options with clear errors", () => {
    expect(() => new MatchingNetwork({ embedDim: 0 })).toThrow(/embedDim must be a positive integer/);
    const network = new MatchingNetwork({ embedDim, hidden: 2 });
    expect(() => network.select(new Float32Array(3), pool)).toThrow(/expected embedDim 4/);
    expect(() => network.select(query, { embeddings: [new Float32Array(2)] })).toThrow(/pool embedding 0 has length 2/);
    expect(() => network.select(query, pool, { budget: { limit: 5, costs: [1] } })).toThrow(
      /budget.costs has 1 values/,
    );
    expect(() => network.select(query, pool, { mode: "best" as "greedy" })).toThrow(/unknown mode/);
  });

  it("save/load round-trips to identical selections and log-probabilities", async () => {
    const directory = await mkdtemp(join(tmpdir(), "pillow-matcher-"));
    try {
      const network = new MatchingNetwork({
        embedDim,
        hidden: 6,
        steps: 3,
        allowStop: true,
        seed: 8,
        features: { bm25: 3 },
      });
      const features = Float64Array.from({ length: pool.embeddings.length }, (_, i) => i / 4);
      network.tensor("stop").fill(0.25);
      network.parametersChanged();
      await network.save(directory);
      const loaded = await MatchingNetwork.load(directory);
      expect(loaded.config).toEqual(network.config);
      expect(Array.from(loaded.parameters)).toEqual(Array.from(network.parameters));
      for (let seed = 0; seed < 10; seed++) {
        const q = randomVectors(1, embedDim, 100 + seed)[0];
        expect(loaded.select(q, pool, { mode: "sample", seed, features })).toEqual(
          network.select(q, pool, { mode: "sample", seed, features }),
        );
        expect(loaded.select(q, pool, { features })).toEqual(network.select(q, pool, { features }));
      }
      await expect(MatchingNetwork.load(join(directory, "missing"))).rejects.toThrow(/cannot read the matcher config/);
      // A folder of the version-1 format (before candidate features) is refused with what to do.
      const configPath = join(directory, "config.json");
      const config = JSON.parse(await readFile(configPath, "utf8"));
      await writeFile(configPath, JSON.stringify({ ...config, version: 1, similarityPrior: 20 }));
      await expect(MatchingNetwork.load(directory)).rejects.toThrow(
        /matcher format version 1, this pillow reads version 2; train the matcher again/,
      );
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
