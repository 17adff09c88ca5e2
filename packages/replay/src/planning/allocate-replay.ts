// InsCL's per-task replay counts: more distant earlier tasks get more replay.

/**
 * n_j = ⌊w_j·R⌋ with w_j = W_j / Σ_k W_k; the remainder R − Σ n_j goes one each to the tasks with the
 * largest w_j (ties: the earlier task first). All-zero distances give the uniform split.
 */
export function allocateReplay(distances: readonly number[], budget: number): number[] {
  if (!Array.isArray(distances)) throw new TypeError("allocateReplay: distances must be an array of numbers");
  if (!Number.isInteger(budget) || budget < 0) {
    throw new RangeError(`allocateReplay: budget must be an integer ≥ 0, got ${budget}`);
  }
  const count = distances.length;
  if (count === 0) {
    if (budget > 0) throw new RangeError(`allocateReplay: a budget of ${budget} needs at least one earlier task`);
    return [];
  }
  let total = 0;
  distances.forEach((distance, index) => {
    if (typeof distance !== "number" || !Number.isFinite(distance) || distance < 0) {
      throw new RangeError(`allocateReplay: distances[${index}] is ${distance}; distances must be finite and ≥ 0`);
    }
    total += distance;
  });
  const weights = distances.map((distance) => (total > 0 ? distance / total : 1 / count));
  const counts = weights.map((weight) => Math.floor(weight * budget));
  let remainder = budget - counts.reduce((sum, value) => sum + value, 0);
  const order = weights.map((_, index) => index).sort((x, y) => weights[y] - weights[x] || x - y);
  for (let k = 0; remainder > 0; k = (k + 1) % count) {
    counts[order[k]]++;
    remainder--;
  }
  return counts;
}
