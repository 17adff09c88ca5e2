// The matcher's embedders: core's Embedder contract, plus the spec that lets a bundle recreate one.
// They cache every text they have seen, because the same pool entries and queries are embedded again
// and again during training.
import type { Embedder } from "@pillow/core";
import { MatcherError } from "./errors.js";

export type { Embedder };

/** What it takes to recreate an embedder (saved beside a trained matcher; never holds secrets). */
export type EmbedderSpec =
  | { kind: "tfidf"; state: import("./tfidf.js").TfidfState }
  | { kind: "llm"; backend: string }
  | { kind: "openai"; model: string; baseUrl: string };

/** An embedder a matcher bundle can store: createEmbedder sets its spec. */
export type SavableEmbedder = Embedder & { readonly spec?: EmbedderSpec };

/**
 * Wraps an uncached embedding function with a text → vector cache. Texts already seen are never
 * recomputed, and a batch only sends the distinct texts that are new.
 */
export class CachedEmbedder implements SavableEmbedder {
  readonly name: string;
  readonly spec?: EmbedderSpec;
  private readonly cache = new Map<string, Float32Array>();
  private readonly compute: (texts: string[]) => Promise<Float32Array[]>;
  private expectedDimension: number | undefined;
  hits = 0;
  misses = 0;

  constructor(name: string, compute: (texts: string[]) => Promise<Float32Array[]>, spec?: EmbedderSpec) {
    this.name = name;
    this.spec = spec;
    this.compute = compute;
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    if (!Array.isArray(texts)) throw new TypeError(`${this.name}: embed(texts) needs an array of strings`);
    const missing: string[] = [];
    const seen = new Set<string>();
    texts.forEach((text, index) => {
      if (typeof text !== "string") {
        throw new TypeError(`${this.name}: embed(texts): texts[${index}] is ${typeof text}, not a string`);
      }
      if (this.cache.has(text)) this.hits++;
      else if (!seen.has(text)) {
        seen.add(text);
        missing.push(text);
        this.misses++;
      } else this.hits++;
    });
    if (missing.length > 0) {
      const vectors = await this.compute(missing);
      if (vectors.length !== missing.length) {
        throw new MatcherError(
          "E_EMBEDDER_OUTPUT",
          `${this.name}: asked for ${missing.length} embeddings, got ${vectors.length}`,
        );
      }
      vectors.forEach((vector, index) => {
        this.expectedDimension ??= vector.length;
        if (vector.length !== this.expectedDimension || vector.length === 0) {
          throw new MatcherError(
            "E_EMBEDDER_OUTPUT",
            `${this.name}: embedding of length ${vector.length} differs from the first one (${this.expectedDimension})`,
          );
        }
        this.cache.set(missing[index], vector);
      });
    }
    return texts.map((text) => this.cache.get(text)!);
  }

  get cacheSize(): number {
    return this.cache.size;
  }
}
