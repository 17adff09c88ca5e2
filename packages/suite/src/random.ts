// A small seeded PRNG (splitmix32 seeding a xoshiro128** state) so every suite, split and corpus is
// reproducible from one integer seed; Math.random is never used.

export type Random = {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [0, bound). */
  int(bound: number): number;
  /** Uniform integer in [low, high] (both inclusive). */
  between(low: number, high: number): number;
  pick<T>(items: readonly T[]): T;
  /** Index drawn with probability proportional to weights[i]. */
  weighted(weights: readonly number[]): number;
  /** A new array in random order (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[];
  /** k distinct items, in random order. */
  sample<T>(items: readonly T[], k: number): T[];
};

function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** 32-bit FNV-1a hash of a string's UTF-16 code units; used for seeds and the held-out partition. */
export function hashString(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

export function createRandom(seed: number | string): Random {
  if (typeof seed === "number" && !Number.isFinite(seed)) {
    throw new Error(`createRandom: seed must be a finite number or a string, got ${seed}`);
  }
  const seeder = splitmix32(typeof seed === "string" ? hashString(seed) : Math.trunc(seed) >>> 0);
  let a = seeder();
  let b = seeder();
  let c = seeder();
  let d = seeder();
  if ((a | b | c | d) === 0) a = 1;
  const nextUint32 = (): number => {
    // xoshiro128**
    const result = Math.imul(((Math.imul(b, 5) << 7) | (Math.imul(b, 5) >>> 25)) >>> 0, 9) >>> 0;
    const t = (b << 9) >>> 0;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = ((d << 11) | (d >>> 21)) >>> 0;
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    return result;
  };
  const next = (): number => nextUint32() / 4294967296;
  const int = (bound: number): number => {
    if (!Number.isInteger(bound) || bound <= 0) {
      throw new Error(`Random.int: bound must be a positive integer, got ${bound}`);
    }
    return Math.floor(next() * bound);
  };
  const random: Random = {
    next,
    int,
    between: (low, high) => low + int(high - low + 1),
    pick: (items) => {
      if (items.length === 0) throw new Error("Random.pick: empty list");
      return items[int(items.length)];
    },
    weighted: (weights) => {
      const total = weights.reduce((sum, w) => sum + w, 0);
      if (!(total > 0)) throw new Error("Random.weighted: weights must sum to a positive number");
      let target = next() * total;
      for (let i = 0; i < weights.length; i++) {
        target -= weights[i];
        if (target < 0) return i;
      }
      return weights.length - 1;
    },
    shuffle: (items) => {
      const copy = items.slice();
      for (let i = copy.length - 1; i > 0; i--) {
        const j = int(i + 1);
        const held = copy[i];
        copy[i] = copy[j];
        copy[j] = held;
      }
      return copy;
    },
    sample: (items, k) => {
      if (k > items.length) throw new Error(`Random.sample: asked for ${k} of ${items.length} items`);
      // Partial Fisher–Yates: only the first k positions are settled.
      const copy = items.slice();
      for (let i = 0; i < k; i++) {
        const j = i + int(copy.length - i);
        const held = copy[i];
        copy[i] = copy[j];
        copy[j] = held;
      }
      return copy.slice(0, k);
    },
  };
  return random;
}
