// TF-IDF embeddings fitted once on a corpus (the pool plus, optionally, training queries) and then
// frozen. Smoothed idf and sublinear tf, L2-normalised, so cosine similarity is a dot product.

import { words } from "./words.js";

export type TfidfOptions = {
  /** Keep the most frequent words (by document frequency) up to this many dimensions. */
  maxFeatures?: number;
  /** Use 1 + ln(count) instead of the raw count (long texts stop dominating). Default true. */
  sublinearTf?: boolean;
};

/** A fitted model in JSON form (what a saved matcher keeps, instead of the corpus). */
export type TfidfState = { vocabulary: string[]; inverseDocumentFrequency: number[]; sublinearTf: boolean };

export class TfidfModel {
  readonly vocabulary: ReadonlyMap<string, number>;
  readonly inverseDocumentFrequency: Float64Array;
  readonly sublinearTf: boolean;

  static fromState(state: TfidfState): TfidfModel {
    const { vocabulary, inverseDocumentFrequency, sublinearTf } = state ?? ({} as TfidfState);
    if (
      !Array.isArray(vocabulary) ||
      !Array.isArray(inverseDocumentFrequency) ||
      vocabulary.length !== inverseDocumentFrequency.length
    ) {
      throw new TypeError(
        "tfidf: the saved state needs vocabulary and inverseDocumentFrequency arrays of equal length",
      );
    }
    if (vocabulary.length === 0 || inverseDocumentFrequency.some((value) => !Number.isFinite(value))) {
      throw new RangeError("tfidf: the saved state is empty or has non-finite idf values");
    }
    const model = Object.create(TfidfModel.prototype) as TfidfModel;
    Object.assign(model, {
      vocabulary: new Map(vocabulary.map((word, index) => [word, index])),
      inverseDocumentFrequency: Float64Array.from(inverseDocumentFrequency),
      sublinearTf: sublinearTf !== false,
    });
    return model;
  }

  toState(): TfidfState {
    return {
      vocabulary: [...this.vocabulary.keys()],
      inverseDocumentFrequency: Array.from(this.inverseDocumentFrequency),
      sublinearTf: this.sublinearTf,
    };
  }

  constructor(corpus: readonly string[], options: TfidfOptions = {}) {
    if (!Array.isArray(corpus) || corpus.length === 0) {
      throw new TypeError("tfidf: the corpus to fit must be a non-empty array of strings");
    }
    const maxFeatures = options.maxFeatures ?? 2048;
    if (!Number.isInteger(maxFeatures) || maxFeatures < 1) {
      throw new RangeError(`tfidf: maxFeatures must be a positive integer, got ${maxFeatures}`);
    }
    this.sublinearTf = options.sublinearTf ?? true;
    const documentFrequency = new Map<string, number>();
    corpus.forEach((text, index) => {
      if (typeof text !== "string") throw new TypeError(`tfidf: corpus[${index}] is not a string`);
      for (const word of new Set(words(text))) documentFrequency.set(word, (documentFrequency.get(word) ?? 0) + 1);
    });
    // Most frequent first; ties broken alphabetically so the vocabulary is deterministic.
    const kept = [...documentFrequency.entries()]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .slice(0, maxFeatures);
    if (kept.length === 0) throw new RangeError("tfidf: the corpus has no words");
    this.vocabulary = new Map(kept.map(([word], index) => [word, index]));
    const documents = corpus.length;
    this.inverseDocumentFrequency = Float64Array.from(
      kept.map(([, frequency]) => Math.log((1 + documents) / (1 + frequency)) + 1),
    );
  }

  get dimension(): number {
    return this.vocabulary.size;
  }

  transform(text: string): Float32Array {
    const counts = new Map<number, number>();
    for (const word of words(text)) {
      const index = this.vocabulary.get(word);
      if (index !== undefined) counts.set(index, (counts.get(index) ?? 0) + 1);
    }
    const vector = new Float32Array(this.dimension);
    let squaredLength = 0;
    for (const [index, count] of counts) {
      const weight = (this.sublinearTf ? 1 + Math.log(count) : count) * this.inverseDocumentFrequency[index];
      vector[index] = weight;
      squaredLength += weight * weight;
    }
    const length = Math.sqrt(squaredLength);
    if (length > 0) for (const index of counts.keys()) vector[index] /= length;
    return vector;
  }
}
