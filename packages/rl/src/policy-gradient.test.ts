import { MatchingNetwork } from "@pillow/matcher";
import { createRandom } from "@pillow/matcher";
import { describe, expect, it } from "vitest";

// The trainer's estimator rests on ∇E[R] = E[R ∇log π(τ)]. On a pool small enough to enumerate
// every trajectory, the exact expectation computed from accumulateGradients must equal finite
// differences of E[R] = Σ_τ π(τ) R(τ), and the entropy bonus likewise.
describe("policy gradient", () => {
  it("Σ_τ π(τ) R(τ) ∇log π(τ) matches finite differences of the expected reward", () => {
    const random = createRandom(4);
    const embedDim = 3;
    const network = new MatchingNetwork({ embedDim, hidden: 4, steps: 2, allowStop: true, seed: 9 });
    network.tensor("stop").set([0.4, -0.1, 0.2, 0.3]);
    network.parametersChanged();
    const pool = {
      embeddings: Array.from({ length: 4 }, () => Float32Array.from({ length: embedDim }, () => random.normal())),
    };
    const query = Float32Array.from({ length: embedDim }, () => random.normal());
    const trajectories: { ids: number[]; stopped: boolean }[] = [{ ids: [], stopped: true }];
    for (let a = 0; a < 4; a++) {
      trajectories.push({ ids: [a], stopped: true });
      for (let b = 0; b < 4; b++) if (a !== b) trajectories.push({ ids: [a, b], stopped: false });
    }
    const reward = (ids: number[]) =>
      ids.reduce((sum, id) => sum + (id + 1) * (id + 1), 0) / 10 + (ids[0] === 2 ? 1 : 0);
    const expected = () => {
      const encoding = network.encodePool(pool);
      return trajectories.reduce(
        (sum, trajectory) =>
          sum + Math.exp(network.trace(query, encoding, { forced: trajectory }).logProb) * reward(trajectory.ids),
        0,
      );
    };

    network.zeroGradients();
    const encoding = network.encodePool(pool);
    for (const trajectory of trajectories) {
      const trace = network.trace(query, encoding, { forced: trajectory });
      network.accumulateGradients(trace, encoding, Math.exp(trace.logProb) * reward(trajectory.ids));
    }
    network.backwardPool(encoding);
    const analytic = network.gradients.slice();
    const epsilon = 1e-6;
    for (let i = 0; i < network.parameters.length; i++) {
      const original = network.parameters[i];
      network.parameters[i] = original + epsilon;
      const plus = expected();
      network.parameters[i] = original - epsilon;
      const minus = expected();
      network.parameters[i] = original;
      expect(analytic[i]).toBeCloseTo((plus - minus) / (2 * epsilon), 7);
    }
  });
});
