// Earth mover's (Wasserstein-1 under the chosen ground cost) distance between two weighted point sets.

import { earthMoversDistance, hasEarthMoversDistance, pairwiseCost } from "@pillow/core";
import { ReplayError } from "../errors.js";
import { computeCostMatrix, type GroundCost, type PointSet, validatePointSet } from "./cost-matrix.js";
import { solveTransport } from "./network-simplex.js";
import { sinkhornLog } from "./sinkhorn.js";

export type { GroundCost, PointSet } from "./cost-matrix.js";

export type WassersteinOptions = {
  /** Mass of each point of a (normalised to sum 1); uniform when absent. */
  weightsA?: Float64Array | number[];
  /** Mass of each point of b (normalised to sum 1); uniform when absent. */
  weightsB?: Float64Array | number[];
  /** Ground cost; default "cosine" (1 − cos(a, b)), as InsCL uses. */
  cost?: GroundCost;
  /** "exact" (network simplex, default) or "sinkhorn" (entropic, log domain). */
  method?: "exact" | "sinkhorn";
  /** Sinkhorn regularisation ε (default 0.01); ignored by "exact". */
  epsilon?: number;
  /** Sinkhorn iteration cap (default 10 000). */
  maxIterations?: number;
  /**
   * Exact solver: "native" (the addon's C++ network simplex, via @pillow/lora-kernels), "typescript"
   * (the same algorithm here), or "auto" (default: native when the addon has it).
   */
  solver?: "auto" | "native" | "typescript";
};

let nativeChecked: boolean | undefined;
/** Whether the native optimal-transport kernels can be used (checked once). */
export function nativeSolverAvailable(): boolean {
  nativeChecked ??= hasEarthMoversDistance();
  return nativeChecked;
}

function useNative(solver: WassersteinOptions["solver"]): boolean {
  if (solver === "typescript") return false;
  if (solver === "native") {
    if (!nativeSolverAvailable()) {
      throw new ReplayError(
        "E_NATIVE_UNAVAILABLE",
        'wasserstein: solver "native" requested but the native addon (with earthMoversDistance) could not be loaded; use solver "typescript" or "auto"',
        { field: "solver" },
      );
    }
    return true;
  }
  if (solver !== undefined && solver !== "auto") {
    throw new RangeError(`wasserstein: options.solver must be "auto", "native" or "typescript", got ${String(solver)}`);
  }
  return nativeSolverAvailable();
}

/** Checks and normalises a weight vector to sum 1; uniform when absent. */
export function normaliseWeights(
  weights: Float64Array | number[] | undefined,
  count: number,
  argumentName: string,
): Float64Array {
  const result = new Float64Array(count);
  if (weights === undefined) {
    result.fill(1 / count);
    return result;
  }
  if (weights.length !== count) {
    throw new RangeError(`wasserstein: ${argumentName} has ${weights.length} entries but there are ${count} points`);
  }
  let sum = 0;
  for (let k = 0; k < count; k++) {
    const w = weights[k];
    if (typeof w !== "number" || Number.isNaN(w) || w < 0 || w === Infinity) {
      throw new RangeError(`wasserstein: ${argumentName}[${k}] is ${w}; weights must be finite and ≥ 0`);
    }
    sum += w;
  }
  if (!(sum > 0)) throw new RangeError(`wasserstein: ${argumentName} sums to 0; at least one weight must be positive`);
  for (let k = 0; k < count; k++) result[k] = weights[k] / sum;
  return result;
}

export function wasserstein(a: PointSet, b: PointSet, options: WassersteinOptions = {}): number {
  validatePointSet(a, "a");
  validatePointSet(b, "b");
  const cost = options.cost ?? "cosine";
  if (cost !== "cosine" && cost !== "euclidean" && cost !== "sqeuclidean") {
    throw new RangeError(
      `wasserstein: options.cost must be "cosine", "euclidean" or "sqeuclidean", got ${String(cost)}`,
    );
  }
  const method = options.method ?? "exact";
  if (method !== "exact" && method !== "sinkhorn") {
    throw new RangeError(`wasserstein: options.method must be "exact" or "sinkhorn", got ${String(method)}`);
  }
  const weightsA = normaliseWeights(options.weightsA, a.n, "weightsA");
  const weightsB = normaliseWeights(options.weightsB, b.n, "weightsB");
  const native = useNative(options.solver);
  if (a.dim !== b.dim) throw new RangeError(`wasserstein: a.dim = ${a.dim} but b.dim = ${b.dim}; they must match`);
  // The native cost kernel reads f32 rows; f64 input keeps the TypeScript path so no precision is lost.
  // Zero rows under the cosine cost are caught first by the TypeScript check, with its clearer message.
  const costs =
    native && a.data instanceof Float32Array && b.data instanceof Float32Array && !hasZeroRow(a, b, cost)
      ? pairwiseCost(a.data, b.data, { n: a.n, m: b.n, dim: a.dim }, cost)
      : computeCostMatrix(a, b, cost);
  return transportCost(weightsA, weightsB, costs, method, { ...options, solver: native ? "native" : "typescript" });
}

/** The same on a precomputed n × m cost matrix (row-major, f64) and already-normalised weights. */
export function transportCost(
  weightsA: Float64Array,
  weightsB: Float64Array,
  costs: Float64Array,
  method: "exact" | "sinkhorn" = "exact",
  options: { epsilon?: number; maxIterations?: number; solver?: WassersteinOptions["solver"] } = {},
): number {
  if (method === "sinkhorn") {
    return sinkhornLog(weightsA, weightsB, costs, {
      epsilon: options.epsilon ?? 0.01,
      maxIterations: options.maxIterations,
    }).cost;
  }
  // One point on either side: the plan is forced, no solver needed.
  if (weightsA.length === 1 || weightsB.length === 1) {
    let total = 0;
    for (let k = 0; k < costs.length; k++) total += costs[k] * (weightsA.length === 1 ? weightsB[k] : weightsA[k]);
    return total;
  }
  if (useNative(options.solver)) return earthMoversDistance(weightsA, weightsB, costs).cost;
  return solveTransport(weightsA, weightsB, costs).cost;
}

function hasZeroRow(a: PointSet, b: PointSet, cost: GroundCost): boolean {
  if (cost !== "cosine") return false;
  for (const points of [a, b]) {
    for (let i = 0; i < points.n; i++) {
      let any = false;
      for (let k = i * points.dim; k < (i + 1) * points.dim; k++) {
        if (points.data[k] !== 0) {
          any = true;
          break;
        }
      }
      if (!any) return true;
    }
  }
  return false;
}
