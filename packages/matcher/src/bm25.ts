// Okapi BM25 over pool entries (instruction + input), the lexical retrieval baseline.
// idf = ln(1 + (N − df + 0.5) / (df + 0.5)) (Lucene's form, never negative); every occurrence of a
// query word counts, as in the common reference implementations.

import { words } from "./words.js";

export type Bm25Options = { k1?: number; b?: number };

export class Bm25Index {
  readonly k1: number;
  readonly b: number;
  private readonly termFrequencies: Map<string, number>[];
  private readonly lengths: Int32Array;
  private readonly averageLength: number;
  private readonly documentFrequency = new Map<string, number>();

  constructor(documents: readonly string[], options: Bm25Options = {}) {
    this.k1 = options.k1 ?? 1.2;
    this.b = options.b ?? 0.75;
    if (!(this.k1 >= 0) || !(this.b >= 0 && this.b <= 1)) {
      throw new RangeError(`Bm25Index: need k1 >= 0 and 0 <= b <= 1, got k1=${this.k1}, b=${this.b}`);
    }
    this.termFrequencies = documents.map((document, index) => {
      if (typeof document !== "string") throw new TypeError(`Bm25Index: documents[${index}] is not a string`);
      const frequencies = new Map<string, number>();
      for (const word of words(document)) frequencies.set(word, (frequencies.get(word) ?? 0) + 1);
      for (const word of frequencies.keys())
        this.documentFrequency.set(word, (this.documentFrequency.get(word) ?? 0) + 1);
      return frequencies;
    });
    this.lengths = Int32Array.from(this.termFrequencies.map((frequencies) => sum(frequencies.values())));
    this.averageLength = documents.length === 0 ? 0 : sum(this.lengths) / documents.length;
  }

  get size(): number {
    return this.lengths.length;
  }

  inverseDocumentFrequency(word: string): number {
    const frequency = this.documentFrequency.get(word) ?? 0;
    return Math.log(1 + (this.size - frequency + 0.5) / (frequency + 0.5));
  }

  scores(query: string): Float64Array {
    const result = new Float64Array(this.size);
    const averageLength = this.averageLength > 0 ? this.averageLength : 1;
    for (const word of words(query)) {
      if (!this.documentFrequency.has(word)) continue;
      const idf = this.inverseDocumentFrequency(word);
      for (let document = 0; document < this.size; document++) {
        const frequency = this.termFrequencies[document].get(word);
        if (!frequency) continue;
        const normaliser = this.k1 * (1 - this.b + (this.b * this.lengths[document]) / averageLength);
        result[document] += (idf * frequency * (this.k1 + 1)) / (frequency + normaliser);
      }
    }
    return result;
  }

  /** The k best documents, best first; ties go to the lower index. */
  top(query: string, k: number): number[] {
    return topIndices(this.scores(query), k);
  }
}

export function topIndices(scores: ArrayLike<number>, k: number): number[] {
  const order = Array.from({ length: scores.length }, (_, index) => index);
  order.sort((a, b) => scores[b] - scores[a] || a - b);
  return order.slice(0, Math.max(0, k));
}

function sum(values: Iterable<number>): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}
