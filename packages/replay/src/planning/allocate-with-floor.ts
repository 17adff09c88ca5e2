// The "interference" strategy's per-task counts: every earlier task gets a floor, the rest of the
// budget goes in proportion to how much its probe loss rose in the look-ahead, and (optionally) no
// task gets more than a cap, so the replay that competes with the new task cannot swamp it.
import { allocateReplay } from "./allocate-replay.js";

/**
 * floor = ⌊floorShare · R / n⌋ per task (at least 1 when R ≥ n, so no task gets nothing); the rest
 * R − n·floor split by allocateReplay over max(0, increase_j) (⌊w_j·rest⌋, remainder to the largest;
 * no positive increase at all gives the equal split).
 *
 * cap (optional): no task's count exceeds max(cap, ⌈R / n⌉) (the equal share always fits, so the whole
 * budget is placed). What a capped task would have got beyond its cap is split again the same way
 * over the tasks still below it (∝ increase; equally when none of them rose), until nothing is left.
 *
 * directedLimit (optional): at most this many of the R − n·floor are split by increase; the part
 * beyond it is split equally with the floor, so the replay aimed at the tasks the new one interferes
 * with stays bounded (in planReplay: a share of the current task's size) however large R grows.
 */
export function allocateWithFloor(
  increases: readonly number[],
  budget: number,
  floorShare: number,
  cap?: number,
  directedLimit?: number,
): number[] {
  if (!Array.isArray(increases)) throw new TypeError("allocateWithFloor: increases must be an array of numbers");
  if (!Number.isInteger(budget) || budget < 0)
    throw new RangeError(`allocateWithFloor: budget must be an integer ≥ 0, got ${budget}`);
  if (typeof floorShare !== "number" || !(floorShare >= 0 && floorShare <= 1)) {
    throw new RangeError(`allocateWithFloor: floorShare must be in [0, 1], got ${floorShare}`);
  }
  if (cap !== undefined && !(Number.isInteger(cap) && cap >= 0))
    throw new RangeError(`allocateWithFloor: cap must be an integer ≥ 0, got ${cap}`);
  if (directedLimit !== undefined && !(Number.isInteger(directedLimit) && directedLimit >= 0)) {
    throw new RangeError(`allocateWithFloor: directedLimit must be an integer ≥ 0, got ${directedLimit}`);
  }
  increases.forEach((value, index) => {
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw new RangeError(`allocateWithFloor: increases[${index}] is ${value}; increases must be finite numbers`);
    }
  });
  const count = increases.length;
  if (count === 0) return allocateReplay([], budget);
  const floor = budget >= count ? Math.max(1, Math.floor((floorShare * budget) / count)) : 0;
  const weights = increases.map((value) => Math.max(0, value));
  const limit = cap === undefined ? Number.POSITIVE_INFINITY : Math.max(cap, Math.ceil(budget / count));
  let rest = budget - floor * count;
  // directedLimit: at most this much is split by increase; the rest of it joins the floor (equally).
  const undirected = directedLimit === undefined ? 0 : Math.max(0, rest - directedLimit);
  const counts = allocateReplay(
    increases.map(() => 0),
    undirected,
  ).map((value) => value + floor);
  rest -= undirected;
  // Water-filling: each round splits what is left over the tasks below the limit; a round that
  // caps nobody places everything, and every other round removes at least one task, so it ends.
  while (rest > 0) {
    const open = counts.map((_, index) => index).filter((index) => counts[index] < limit);
    const extra = allocateReplay(
      open.map((index) => weights[index]),
      rest,
    );
    rest = 0;
    open.forEach((index, k) => {
      const placed = Math.min(extra[k], limit - counts[index]);
      counts[index] += placed;
      rest += extra[k] - placed;
    });
  }
  return counts;
}
