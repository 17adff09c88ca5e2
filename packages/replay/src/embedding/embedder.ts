// Text embedders for instructions and tags, as core's Embedder: the default is a local hashing
// embedder (no model needed), or a backend's frozen sentence embeddings.
import type { Embedder, GenerationBackend } from "@pillow/core";

export type { Embedder };

function hashToken(text: string, salt: number): number {
  // FNV-1a, salted so word and character features land in independent buckets.
  let hash = (0x811c9dc5 ^ salt) >>> 0;
  for (let k = 0; k < text.length; k++) {
    hash ^= text.charCodeAt(k);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

export type HashingEmbedderOptions = { dimensions?: number };

/**
 * Feature hashing of lower-cased words, word bigrams and character trigrams with sublinear term
 * frequency and a ±1 sign hash, L2-normalised. Deterministic and model-free; texts without any
 * feature map to a fixed "empty" direction rather than the zero vector (the cosine cost needs ≠ 0).
 */
export function createHashingEmbedder(options: HashingEmbedderOptions = {}): Embedder {
  const dimensions = options.dimensions ?? 512;
  if (!Number.isInteger(dimensions) || dimensions < 8) {
    throw new RangeError(`createHashingEmbedder: dimensions must be an integer ≥ 8, got ${dimensions}`);
  }
  return {
    name: `hashing:${dimensions}`,
    embed: async (texts) =>
      texts.map((text, index) => {
        if (typeof text !== "string") throw new TypeError(`hashing embedder: text ${index} is not a string`);
        const counts = new Map<string, number>();
        const add = (feature: string) => counts.set(feature, (counts.get(feature) ?? 0) + 1);
        const words = text.toLowerCase().match(/[a-z0-9]+/g) ?? [];
        words.forEach((word, k) => {
          add(`w:${word}`);
          if (k + 1 < words.length) add(`b:${word} ${words[k + 1]}`);
          const padded = ` ${word} `;
          for (let c = 0; c + 3 <= padded.length; c++) add(`c:${padded.slice(c, c + 3)}`);
        });
        const vector = new Float32Array(dimensions);
        if (counts.size === 0) {
          vector[0] = 1;
          return vector;
        }
        for (const [feature, count] of counts) {
          const bucket = hashToken(feature, 0) % dimensions;
          const sign = hashToken(feature, 0x9e3779b9) & 1 ? 1 : -1;
          // Word features weigh more than the many character trigrams each word brings.
          const weight = feature.startsWith("c:") ? 0.5 : 1;
          vector[bucket] += sign * weight * (1 + Math.log(count));
        }
        let norm = 0;
        for (let k = 0; k < dimensions; k++) norm += vector[k] * vector[k];
        if (norm === 0) {
          vector[0] = 1;
          return vector;
        }
        const inverse = 1 / Math.sqrt(norm);
        for (let k = 0; k < dimensions; k++) vector[k] *= inverse;
        return vector;
      }),
  };
}

/** The backend's frozen sentence embeddings (e.g. mean-pooled hidden states of the base model). */
export function backendEmbedder(backend: GenerationBackend): Embedder {
  if (typeof backend.embed !== "function") {
    throw new TypeError(`backendEmbedder: backend ${backend.name} has no embed(); use createHashingEmbedder() instead`);
  }
  return { name: `backend:${backend.name}`, embed: (texts) => backend.embed!([...texts]) };
}

/** Stacks equal-length vectors into the row-major point set wasserstein() takes. */
export function stackVectors(
  vectors: readonly Float32Array[],
  what: string,
): { data: Float32Array; n: number; dim: number } {
  if (vectors.length === 0) throw new RangeError(`${what}: no vectors to stack`);
  const dim = vectors[0].length;
  const data = new Float32Array(vectors.length * dim);
  vectors.forEach((vector, index) => {
    if (vector.length !== dim)
      throw new RangeError(`${what}: vector ${index} has ${vector.length} dimensions, expected ${dim}`);
    data.set(vector, index * dim);
  });
  return { data, n: vectors.length, dim };
}
