import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { computeCostMatrix } from "./cost-matrix.js";
import { solveTransport } from "./network-simplex.js";
import { type GroundCost, nativeSolverAvailable, wasserstein } from "./wasserstein.js";

type ReferenceCase = {
  name: string;
  n: number;
  m: number;
  dim: number;
  cost: GroundCost;
  a: number[];
  b: number[];
  weightsA: number[] | null;
  weightsB: number[] | null;
  exact: number;
  epsilon?: number;
  sinkhorn?: number;
};

// Produced by test-tools/pot_reference.py with POT's ot.emd2 / ot.sinkhorn2 (Debian python3-pot).
const reference: { pot: string; cases: ReferenceCase[] } = JSON.parse(
  readFileSync(fileURLToPath(new URL("../../test-tools/pot-reference.json", import.meta.url)), "utf8"),
);

function pointSet(values: number[], n: number, dim: number) {
  return { data: Float32Array.from(values), n, dim };
}

function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Brute-force reference for tiny problems: the optimum of a transportation problem is a vertex;
 * for n = m with uniform weights it is a permutation (Birkhoff), so try them all. */
function bruteForceAssignment(costs: Float64Array, n: number): number {
  const used = new Array<boolean>(n).fill(false);
  let best = Infinity;
  function visit(row: number, total: number): void {
    if (row === n) {
      best = Math.min(best, total);
      return;
    }
    for (let j = 0; j < n; j++) {
      if (used[j]) continue;
      used[j] = true;
      visit(row + 1, total + costs[row * n + j]);
      used[j] = false;
    }
  }
  visit(0, 0);
  return best / n;
}

describe("wasserstein against POT", () => {
  it("has reference cases, and the native addon provides the solver", () => {
    expect(reference.cases.length).toBeGreaterThanOrEqual(10);
    // The addon is built before the tests (pnpm build / pnpm test); both solvers are checked below.
    expect(nativeSolverAvailable()).toBe(true);
  });
  for (const solver of ["typescript", "native"] as const) {
    for (const testCase of reference.cases) {
      it(`exact (${solver}): ${testCase.name} matches ot.emd2 within 1e-6`, () => {
        const value = wasserstein(
          pointSet(testCase.a, testCase.n, testCase.dim),
          pointSet(testCase.b, testCase.m, testCase.dim),
          {
            cost: testCase.cost,
            weightsA: testCase.weightsA ?? undefined,
            weightsB: testCase.weightsB ?? undefined,
            solver,
          },
        );
        expect(Math.abs(value - testCase.exact)).toBeLessThanOrEqual(1e-6);
      });
    }
  }
  for (const testCase of reference.cases) {
    if (testCase.sinkhorn !== undefined) {
      it(`sinkhorn: ${testCase.name} matches ot.sinkhorn2 within 1e-3`, () => {
        const value = wasserstein(
          pointSet(testCase.a, testCase.n, testCase.dim),
          pointSet(testCase.b, testCase.m, testCase.dim),
          {
            cost: testCase.cost,
            method: "sinkhorn",
            epsilon: testCase.epsilon,
            weightsA: testCase.weightsA ?? undefined,
            weightsB: testCase.weightsB ?? undefined,
          },
        );
        expect(Math.abs(value - testCase.sinkhorn!)).toBeLessThanOrEqual(1e-3);
      });
    }
  }
  it("native and TypeScript solvers agree on random weighted problems (up to 500 × 400, dim 32)", () => {
    const random = mulberry32(21);
    for (const [n, m, dim] of [
      [1, 5, 3],
      [9, 2, 4],
      [64, 64, 8],
      [500, 400, 32],
    ]) {
      const a = { data: Float32Array.from({ length: n * dim }, () => random() - 0.5), n, dim };
      const b = { data: Float32Array.from({ length: m * dim }, () => random() - 0.5), n: m, dim };
      const weightsA = Array.from({ length: n }, () => random());
      const weightsB = Array.from({ length: m }, () => random());
      for (const cost of ["cosine", "euclidean", "sqeuclidean"] as const) {
        const viaNative = wasserstein(a, b, { weightsA, weightsB, cost, solver: "native" });
        const viaTypescript = wasserstein(a, b, { weightsA, weightsB, cost, solver: "typescript" });
        expect(Math.abs(viaNative - viaTypescript)).toBeLessThanOrEqual(1e-9);
      }
    }
  });
});

describe("wasserstein: exact solver properties", () => {
  it("matches a brute-force assignment on random 6×6 problems", () => {
    const random = mulberry32(7);
    for (let trial = 0; trial < 20; trial++) {
      const n = 6;
      const costs = Float64Array.from({ length: n * n }, () => random());
      const uniform = new Float64Array(n).fill(1 / n);
      const solved = solveTransport(uniform, uniform, costs);
      expect(solved.cost).toBeCloseTo(bruteForceAssignment(costs, n), 12);
      // The plan has the right marginals.
      const rows = new Float64Array(n);
      const columns = new Float64Array(n);
      for (let k = 0; k < solved.plan.mass.length; k++) {
        rows[solved.plan.source[k]] += solved.plan.mass[k];
        columns[solved.plan.target[k]] += solved.plan.mass[k];
      }
      for (let i = 0; i < n; i++) {
        expect(rows[i]).toBeCloseTo(1 / n, 12);
        expect(columns[i]).toBeCloseTo(1 / n, 12);
      }
    }
  });

  it("handles zero weights on either side and degenerate (tied) costs", () => {
    const costs = Float64Array.from([1, 1, 1, 1, 1, 1, 0, 0, 0]);
    const value = solveTransport(Float64Array.from([0.5, 0, 0.5]), Float64Array.from([0, 0.5, 0.5]), costs).cost;
    // Row 0 pays 1 whatever it does; row 2 is free.
    expect(value).toBeCloseTo(0.5, 14);
    const allEqual = solveTransport(
      new Float64Array(5).fill(0.2),
      new Float64Array(5).fill(0.2),
      new Float64Array(25).fill(3),
    );
    expect(allEqual.cost).toBeCloseTo(3, 12);
  });

  it("is zero for identical sets and for a single point against itself", () => {
    const random = mulberry32(11);
    const data = Float32Array.from({ length: 50 * 8 }, () => random() - 0.5);
    const set = { data, n: 50, dim: 8 };
    expect(wasserstein(set, set)).toBeCloseTo(0, 12);
    expect(wasserstein(set, set, { cost: "euclidean" })).toBeCloseTo(0, 12);
    const one = { data: Float32Array.from([1, 2, 3]), n: 1, dim: 3 };
    expect(wasserstein(one, one)).toBe(0);
  });

  it("with one point on a side, it is the weighted mean cost", () => {
    const one = { data: Float32Array.from([1, 0]), n: 1, dim: 2 };
    const three = { data: Float32Array.from([1, 0, 0, 1, -1, 0]), n: 3, dim: 2 };
    // Cosine costs 0, 1, 2 with weights 1, 1, 2 (normalised to 1/4, 1/4, 1/2).
    expect(wasserstein(one, three, { weightsB: [1, 1, 2] })).toBeCloseTo(0.25 * 0 + 0.25 * 1 + 0.5 * 2, 14);
    expect(wasserstein(three, one, { weightsA: [1, 1, 2] })).toBeCloseTo(1.25, 14);
  });

  it("is symmetric and is the same for scaled weights", () => {
    const random = mulberry32(3);
    const a = { data: Float32Array.from({ length: 30 * 5 }, () => random() - 0.5), n: 30, dim: 5 };
    const b = { data: Float32Array.from({ length: 17 * 5 }, () => random() - 0.5), n: 17, dim: 5 };
    const weightsA = Array.from({ length: 30 }, () => random());
    const weightsB = Array.from({ length: 17 }, () => random());
    const forward = wasserstein(a, b, { weightsA, weightsB });
    const backward = wasserstein(b, a, { weightsA: weightsB, weightsB: weightsA });
    expect(forward).toBeCloseTo(backward, 10);
    const scaled = wasserstein(a, b, { weightsA: weightsA.map((w) => w * 7), weightsB });
    expect(scaled).toBeCloseTo(forward, 10);
  });

  it("agrees with sinkhorn at small epsilon (n = 150, m = 120, dim 16)", () => {
    const random = mulberry32(5);
    const a = { data: Float32Array.from({ length: 150 * 16 }, () => random() - 0.5), n: 150, dim: 16 };
    const b = { data: Float32Array.from({ length: 120 * 16 }, () => random() - 0.5), n: 120, dim: 16 };
    const exact = wasserstein(a, b);
    const smooth = wasserstein(a, b, { method: "sinkhorn", epsilon: 0.005 });
    // The entropic plan's cost is above the exact optimum and close to it for small ε.
    expect(smooth).toBeGreaterThanOrEqual(exact - 1e-9);
    expect(smooth - exact).toBeLessThan(0.02);
  });

  it("computes cost matrices in f64", () => {
    const a = { data: Float32Array.from([3, 4]), n: 1, dim: 2 };
    const b = { data: Float32Array.from([4, 3, 0, 1]), n: 2, dim: 2 };
    expect(Array.from(computeCostMatrix(a, b, "cosine"))).toEqual(
      [1 - 24 / 25, 1 - 4 / 5].map((x) => expect.closeTo(x, 15)),
    );
    expect(Array.from(computeCostMatrix(a, b, "euclidean"))).toEqual(
      [Math.SQRT2, Math.sqrt(18)].map((x) => expect.closeTo(x, 15)),
    );
    expect(Array.from(computeCostMatrix(a, b, "sqeuclidean"))).toEqual([2, 18]);
  });
});

describe("wasserstein: bad input", () => {
  const good = { data: Float32Array.from([1, 0, 0, 1]), n: 2, dim: 2 };
  it("rejects zero vectors under the cosine cost", () => {
    const zero = { data: Float32Array.from([1, 0, 0, 0]), n: 2, dim: 2 };
    expect(() => wasserstein(good, zero)).toThrow(/b: point 1 is the zero vector/);
    expect(() => wasserstein(good, zero, { solver: "native" })).toThrow(/b: point 1 is the zero vector/);
    expect(wasserstein(good, zero, { cost: "euclidean" })).toBeGreaterThan(0);
  });
  it("rejects bad weights", () => {
    expect(() => wasserstein(good, good, { weightsA: [1, -1] })).toThrow(/weightsA\[1\] is -1/);
    expect(() => wasserstein(good, good, { weightsB: [Number.NaN, 1] })).toThrow(/weightsB\[0\] is NaN/);
    expect(() => wasserstein(good, good, { weightsB: [0, 0] })).toThrow(/weightsB sums to 0/);
    expect(() => wasserstein(good, good, { weightsA: [1] })).toThrow(/weightsA has 1 entries but there are 2 points/);
  });
  it("rejects mismatched shapes, non-finite data and unknown options", () => {
    expect(() => wasserstein(good, { data: new Float32Array(3), n: 1, dim: 3 })).toThrow(/a.dim = 2 but b.dim = 3/);
    expect(() => wasserstein(good, { data: new Float32Array(3), n: 2, dim: 2 })).toThrow(/b.data: length 3/);
    expect(() => wasserstein({ data: Float32Array.from([1, Number.NaN]), n: 1, dim: 2 }, good)).toThrow(
      /a.data: point 0, coordinate 1 is NaN/,
    );
    expect(() => wasserstein(good, good, { cost: "manhattan" as GroundCost })).toThrow(/options.cost/);
    expect(() => wasserstein(good, good, { solver: "gpu" as "native" })).toThrow(/options.solver/);
    expect(() => wasserstein(good, good, { method: "sinkhorn", epsilon: 0 })).toThrow(/epsilon/);
    expect(() => wasserstein(good, { data: new Float32Array(0), n: 0, dim: 2 })).toThrow(
      /b.n: expected an integer ≥ 1/,
    );
  });
});

describe("solvers refuse unequal masses", () => {
  it("TypeScript and native", async () => {
    const { earthMoversDistance } = await import("@pillow/core");
    const costs = Float64Array.from([0, 1, 1, 0]);
    expect(() => solveTransport(Float64Array.from([0.5, 0.5]), Float64Array.from([0.5, 0.6]), costs)).toThrow(
      /equal, positive sums \(got 1 and 1.1\)/,
    );
    expect(() => solveTransport(Float64Array.from([0.5, -0.5]), Float64Array.from([0.5, 0.5]), costs)).toThrow(
      /a\[1\] is -0.5/,
    );
    expect(() => earthMoversDistance(Float64Array.from([0.5, 0.5]), Float64Array.from([0.5, 0.6]), costs)).toThrow(
      /equal, positive sums/,
    );
    expect(earthMoversDistance(Float64Array.from([0.5, 0.5]), Float64Array.from([0.25, 0.75]), costs).cost).toBeCloseTo(
      0.25,
      14,
    );
  });
});
