// Seeded pseudo-random numbers (mulberry32): every replay plan is a pure function of its seed.

export type Random = {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, bound). */
  integer(bound: number): number;
  /** Fisher–Yates shuffle of a copy. */
  shuffled<T>(items: readonly T[]): T[];
  /** `count` distinct items chosen uniformly (count ≤ items.length), in the order drawn. */
  sample<T>(items: readonly T[], count: number): T[];
};

export function createRandom(seed: number): Random {
  if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
  let state = Math.trunc(seed) >>> 0;
  function next(): number {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  function integer(bound: number): number {
    return Math.floor(next() * bound);
  }
  function sample<T>(items: readonly T[], count: number): T[] {
    if (count > items.length) throw new RangeError(`cannot sample ${count} of ${items.length} items`);
    const pool = items.slice();
    // Partial Fisher–Yates: the first `count` slots end up a uniform sample.
    for (let k = 0; k < count; k++) {
      const pick = k + integer(pool.length - k);
      const swap = pool[k];
      pool[k] = pool[pick];
      pool[pick] = swap;
    }
    return pool.slice(0, count);
  }
  return { next, integer, shuffled: (items) => sample(items, items.length), sample };
}

/** A child seed derived from a parent seed and labels, so that stages and tasks draw independently. */
export function deriveSeed(seed: number, ...labels: (string | number)[]): number {
  let hash = (Math.trunc(seed) >>> 0) ^ 0x811c9dc5;
  for (const label of labels) {
    const text = String(label);
    for (let k = 0; k < text.length; k++) {
      hash ^= text.charCodeAt(k);
      hash = Math.imul(hash, 0x01000193) >>> 0;
    }
    hash = Math.imul(hash ^ 0xff, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}
