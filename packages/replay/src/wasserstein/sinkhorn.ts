// Entropy-regularised optimal transport by Sinkhorn iterations in the log domain (stable for small ε).
//
// Solves min ⟨P, C⟩ − ε·H(P) with marginals a and b; returns ⟨P*, C⟩ — the transport cost of the
// regularised plan, the same quantity POT's `sinkhorn2` returns. Dual potentials f, g are updated by
//   f_i = ε·ln a_i − ε·LSE_j((g_j − C_ij)/ε),   g_j = ε·ln b_j − ε·LSE_i((f_i − C_ij)/ε),
// so nothing overflows however small ε is relative to the costs.

export type SinkhornOptions = {
  epsilon: number;
  maxIterations?: number;
  /** Stop when the row marginals of the plan are within this L1 distance of a. */
  tolerance?: number;
};

export type SinkhornResult = { cost: number; iterations: number; marginalError: number };

export function sinkhornLog(
  a: Float64Array,
  b: Float64Array,
  costs: Float64Array,
  options: SinkhornOptions,
): SinkhornResult {
  const n = a.length;
  const m = b.length;
  const { epsilon } = options;
  if (!(epsilon > 0) || !Number.isFinite(epsilon)) {
    throw new RangeError(`sinkhorn: epsilon must be a finite number > 0, got ${epsilon}`);
  }
  const maxIterations = options.maxIterations ?? 10_000;
  const tolerance = options.tolerance ?? 1e-9;
  const logA = new Float64Array(n);
  const logB = new Float64Array(m);
  for (let i = 0; i < n; i++) logA[i] = a[i] > 0 ? Math.log(a[i]) : -Infinity;
  for (let j = 0; j < m; j++) logB[j] = b[j] > 0 ? Math.log(b[j]) : -Infinity;
  const f = new Float64Array(n);
  const g = new Float64Array(m);
  const inverseEpsilon = 1 / epsilon;
  const columnMax = new Float64Array(m);
  const columnSum = new Float64Array(m);

  function updateF(): void {
    for (let i = 0; i < n; i++) {
      if (logA[i] === -Infinity) {
        f[i] = -Infinity;
        continue;
      }
      const base = i * m;
      let maximum = -Infinity;
      for (let j = 0; j < m; j++) {
        const value = (g[j] - costs[base + j]) * inverseEpsilon;
        if (value > maximum) maximum = value;
      }
      let sum = 0;
      for (let j = 0; j < m; j++) sum += Math.exp((g[j] - costs[base + j]) * inverseEpsilon - maximum);
      f[i] = epsilon * (logA[i] - maximum - Math.log(sum));
    }
  }
  // Column-wise log-sum-exp done row by row so the cost matrix is read in memory order.
  function updateG(): void {
    columnMax.fill(-Infinity);
    for (let i = 0; i < n; i++) {
      if (f[i] === -Infinity) continue;
      const base = i * m;
      for (let j = 0; j < m; j++) {
        const value = (f[i] - costs[base + j]) * inverseEpsilon;
        if (value > columnMax[j]) columnMax[j] = value;
      }
    }
    columnSum.fill(0);
    for (let i = 0; i < n; i++) {
      if (f[i] === -Infinity) continue;
      const base = i * m;
      for (let j = 0; j < m; j++) columnSum[j] += Math.exp((f[i] - costs[base + j]) * inverseEpsilon - columnMax[j]);
    }
    for (let j = 0; j < m; j++) {
      g[j] = logB[j] === -Infinity ? -Infinity : epsilon * (logB[j] - columnMax[j] - Math.log(columnSum[j]));
    }
  }
  function rowMarginalError(): number {
    // After a g-update the column marginals are exact; measure the rows.
    let error = 0;
    for (let i = 0; i < n; i++) {
      if (f[i] === -Infinity) continue;
      const base = i * m;
      let row = 0;
      for (let j = 0; j < m; j++) {
        if (g[j] === -Infinity) continue;
        row += Math.exp((f[i] + g[j] - costs[base + j]) * inverseEpsilon);
      }
      error += Math.abs(row - a[i]);
    }
    return error;
  }

  let iterations = 0;
  let marginalError = Infinity;
  while (iterations < maxIterations) {
    updateF();
    updateG();
    iterations++;
    if (iterations % 10 === 0 || iterations === maxIterations) {
      marginalError = rowMarginalError();
      if (marginalError < tolerance) break;
    }
  }
  let cost = 0;
  for (let i = 0; i < n; i++) {
    if (f[i] === -Infinity) continue;
    const base = i * m;
    for (let j = 0; j < m; j++) {
      if (g[j] === -Infinity) continue;
      const c = costs[base + j];
      cost += Math.exp((f[i] + g[j] - c) * inverseEpsilon) * c;
    }
  }
  return { cost, iterations, marginalError };
}
