// The "interference" strategy's per-task counts: every earlier task gets a floor, the rest of the
// budget goes in proportion to how much its probe loss rose in the look-ahead.
import { allocateReplay } from "./allocate-replay.js";

/**
 * floor = ⌊floorShare · R / n⌋ per task (at least 1 when R ≥ n, so no task gets nothing); the rest
 * R − n·floor split by allocateReplay over max(0, increase_j) (⌊w_j·rest⌋, remainder to the largest;
 * no positive increase at all gives the equal split).
 */
export function allocateWithFloor(increases: readonly number[], budget: number, floorShare: number): number[] {
  if (!Array.isArray(increases)) throw new TypeError("allocateWithFloor: increases must be an array of numbers");
  if (!Number.isInteger(budget) || budget < 0) throw new RangeError(`allocateWithFloor: budget must be an integer ≥ 0, got ${budget}`);
  if (typeof floorShare !== "number" || !(floorShare >= 0 && floorShare <= 1)) {
    throw new RangeError(`allocateWithFloor: floorShare must be in [0, 1], got ${floorShare}`);
  }
  increases.forEach((value, index) => {
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw new RangeError(`allocateWithFloor: increases[${index}] is ${value}; increases must be finite numbers`);
    }
  });
  const count = increases.length;
  if (count === 0) return allocateReplay([], budget);
  const floor = budget >= count ? Math.max(1, Math.floor((floorShare * budget) / count)) : 0;
  const extra = allocateReplay(
    increases.map((value) => Math.max(0, value)),
    budget - floor * count,
  );
  return extra.map((value) => value + floor);
}
