// The one seeded pseudo-random generator of the monorepo (xoshiro128** seeded by splitmix32). Its whole
// state is four 32-bit words, so training can checkpoint it and resume with exactly the same draws
// (shuffles, LoRA init); matcher, rl, replay and suite draw from it too, so every run is a pure function
// of its seeds (Math.random cannot be seeded). The suite's corpus and splits — and so the shipped tiny
// model — depend on this exact stream: `random.test.ts` and the suite's tests pin it.

function splitmix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Random {
  private readonly words: Uint32Array;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new TypeError(`seed must be a finite number, got ${String(seed)}`);
    const next = splitmix32(Math.floor(seed) ^ Math.floor(seed / 2 ** 32));
    this.words = Uint32Array.from([next(), next(), next(), next()]);
    if (this.words.every((w) => w === 0)) this.words[0] = 1;
  }

  static fromState(state: readonly number[]): Random {
    if (
      !Array.isArray(state) ||
      state.length !== 4 ||
      !state.every((w) => Number.isInteger(w) && w >= 0 && w < 2 ** 32)
    ) {
      throw new TypeError("random state must be four unsigned 32-bit integers");
    }
    const random = new Random(0);
    random.words.set(state);
    return random;
  }

  state(): number[] {
    return [...this.words];
  }

  /** A uniform unsigned 32-bit integer. */
  nextUint32(): number {
    const s = this.words;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** A uniform float in [0, 1). */
  next(): number {
    return this.nextUint32() / 2 ** 32;
  }

  /** A uniform integer in [0, bound); bound must be a positive integer. */
  integer(bound: number): number {
    if (!Number.isInteger(bound) || bound <= 0)
      throw new RangeError(`Random.integer: bound must be a positive integer, got ${bound}`);
    return Math.floor(this.next() * bound);
  }

  /** A uniform integer in [low, high], both inclusive. */
  between(low: number, high: number): number {
    return low + this.integer(high - low + 1);
  }

  /** One item chosen uniformly. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("Random.pick: empty list");
    return items[this.integer(items.length)];
  }

  /** An index drawn with probability proportional to weights[i]. */
  weighted(weights: readonly number[]): number {
    const total = weights.reduce((sum, weight) => sum + weight, 0);
    if (!(total > 0)) throw new RangeError("Random.weighted: weights must sum to a positive number");
    let target = this.next() * total;
    for (let i = 0; i < weights.length; i++) {
      target -= weights[i];
      if (target < 0) return i;
    }
    return weights.length - 1;
  }

  /** A standard normal draw (Box–Muller; two uniforms per draw, the sine half is not kept). */
  normal(): number {
    const u = Math.max(this.next(), 1e-300);
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Fisher–Yates shuffle in place; returns `items`. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.integer(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }

  /** A shuffled copy (the same draws as `shuffle`). */
  shuffled<T>(items: readonly T[]): T[] {
    return this.shuffle(items.slice());
  }

  /** `count` distinct items chosen uniformly (count ≤ items.length), in the order drawn. */
  sample<T>(items: readonly T[], count: number): T[] {
    if (count > items.length) throw new RangeError(`Random.sample: asked for ${count} of ${items.length} items`);
    const pool = items.slice();
    // Partial Fisher–Yates: only the first `count` slots are settled, and they are a uniform sample.
    for (let k = 0; k < count; k++) {
      const pick = k + this.integer(pool.length - k);
      [pool[k], pool[pick]] = [pool[pick], pool[k]];
    }
    return pool.slice(0, count);
  }
}

/** A generator from a number or a string (a string is hashed with `hashString` first). */
export function createRandom(seed: number | string): Random {
  if (typeof seed === "string") return new Random(hashString(seed));
  if (!Number.isFinite(seed))
    throw new TypeError(`createRandom: seed must be a finite number or a string, got ${seed}`);
  return new Random(seed);
}

/** 32-bit FNV-1a of a string's UTF-16 code units, its offset basis xor-ed with `seed`. */
export function hashString(text: string, seed = 0): number {
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/**
 * A child seed derived from a parent seed and labels, so that stages and tasks draw independently:
 * FNV-1a continued over each label followed by the code unit 0xff (a separator no label ends in by
 * accident, so ("ab", "c") and ("a", "bc") differ).
 */
export function deriveSeed(seed: number, ...labels: (string | number)[]): number {
  return hashString(labels.map((label) => `${label}\u00ff`).join(""), Math.trunc(seed) >>> 0);
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
