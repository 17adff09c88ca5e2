// Seeded pseudo-random numbers. Every stochastic choice in the matcher and the trainer goes through
// this so runs are reproducible from one seed (Math.random cannot be seeded).

export type Random = {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, bound). */
  integer(bound: number): number;
  /** Standard normal (Box–Muller). */
  normal(): number;
};

/** mulberry32: tiny, fast, and good enough for sampling actions and initialising weights. */
export function createRandom(seed: number): Random {
  if (!Number.isFinite(seed)) throw new Error(`createRandom: seed must be a finite number, got ${seed}`);
  let state = (Math.trunc(seed) ^ 0x9e3779b9) >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    integer: (bound: number) => Math.floor(next() * bound),
    normal: () => {
      const u = Math.max(next(), 1e-300);
      const v = next();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
  };
}

/** FNV-1a 32-bit hash: derives a per-query seed so a selection does not depend on call order. */
export function hashString(text: string, seed = 0): number {
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** Fisher–Yates shuffle of a copy. */
export function shuffled<T>(items: readonly T[], random: Random): T[] {
  const result = items.slice();
  for (let i = result.length - 1; i > 0; i--) {
    const j = random.integer(i + 1);
    const swap = result[i];
    result[i] = result[j];
    result[j] = swap;
  }
  return result;
}
