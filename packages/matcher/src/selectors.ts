// Selectors: one interface for every way of picking demonstrations, so PILLOW and the baselines
// (none, random, kNN, BM25) are compared under identical conditions (same k, same budget).

import { Bm25Index, topIndices } from "./bm25.js";
import { CandidateFeatureSpace } from "./candidate-features.js";
import type { Embedder } from "./embedder.js";
import type { ContextBudget, EmbeddedPool, MatchingNetwork } from "./matching-network.js";
import { entryText, type PromptEntry, type PromptPool } from "./pool.js";
import { createRandom, hashString } from "./random.js";
import { cosineSimilarity } from "./vectors.js";

/** `text` is instruction + input (entryText); `instruction` alone, where known, for the sameInstruction feature. */
export type SelectorQuery = { text: string; instruction?: string; embedding?: ArrayLike<number> };

export interface Selector {
  readonly name: string;
  /** Pool indices of the chosen demonstrations, in prompt order. */
  select(query: SelectorQuery): Promise<number[]>;
}

export type SelectorKind = "none" | "random" | "knn" | "bm25" | "matcher";

/** Chooses nothing: the zero-shot baseline. */
export function noneSelector(): Selector {
  return { name: "none", select: async () => [] };
}

/** k distinct entries uniformly at random; the seed and the query text fix the draw. */
export function randomSelector(options: {
  pool: { size: number };
  k: number;
  seed?: number;
  budget?: ContextBudget;
}): Selector {
  const { pool, k, seed = 0, budget } = options;
  checkK(k, "randomSelector");
  return {
    name: "random",
    select: async (query) => {
      checkQuery(query);
      const random = createRandom(hashString(query.text, seed));
      const order = Array.from({ length: pool.size }, (_, index) => index);
      for (let i = order.length - 1; i > 0; i--) {
        const j = random.integer(i + 1);
        [order[i], order[j]] = [order[j], order[i]];
      }
      return takeWithinBudget(order, k, budget);
    },
  };
}

/** The k entries whose embeddings are most cosine-similar to the query's. */
export function knnSelector(options: {
  pool: EmbeddedPool;
  k: number;
  embedder?: Embedder;
  budget?: ContextBudget;
}): Selector {
  const { pool, k, embedder, budget } = options;
  checkK(k, "knnSelector");
  return {
    name: "knn",
    select: async (query) => {
      const embedding = await queryEmbedding(query, embedder, "knnSelector");
      const scores = pool.embeddings.map((vector) => cosineSimilarity(embedding, vector));
      return takeWithinBudget(topIndices(scores, scores.length), k, budget);
    },
  };
}

/** The k entries with the highest BM25 score for the query text. */
export function bm25Selector(options: {
  pool: PromptPool;
  k: number;
  k1?: number;
  b?: number;
  budget?: ContextBudget;
}): Selector {
  const { pool, k, budget } = options;
  checkK(k, "bm25Selector");
  const index = new Bm25Index(pool.entries.map(entryText), { k1: options.k1, b: options.b });
  return {
    name: "bm25",
    select: async (query) => {
      checkQuery(query);
      return takeWithinBudget(topIndices(index.scores(query.text), index.size), k, budget);
    },
  };
}

/**
 * The first `count` of another selector's choices, named "NAME@count": bm25 with one demonstration
 * instead of k. The warm start's teachers use these so that "fewer demonstrations" is a choice to imitate.
 */
export function prefixSelector(selector: Selector, count: number): Selector {
  checkK(count, "prefixSelector");
  if (!selector || typeof selector.select !== "function")
    throw new TypeError("prefixSelector: selector must be a Selector");
  return { name: `${selector.name}@${count}`, select: async (query) => (await selector.select(query)).slice(0, count) };
}

/** The trained matching network (greedy by default). A network with candidate features needs the pool's entries. */
export function matcherSelector(options: {
  matcher: MatchingNetwork;
  pool: EmbeddedPool & { readonly entries?: readonly PromptEntry[] };
  embedder?: Embedder;
  mode?: "greedy" | "sample";
  seed?: number;
  budget?: ContextBudget;
}): Selector {
  const { matcher, pool, embedder, mode = "greedy", seed = 0, budget } = options;
  const names = matcher.featureNames;
  if (names.length > 0 && !pool.entries)
    throw new TypeError(`matcherSelector: the matcher scores with features [${names}]; pass a PromptPool`);
  const space =
    names.length > 0
      ? new CandidateFeatureSpace({ entries: pool.entries!, embeddings: pool.embeddings }, names)
      : undefined;
  return {
    name: "matcher",
    select: async (query) => {
      const embedding = await queryEmbedding(query, embedder, "matcherSelector");
      const features = space?.compute({ text: query.text, instruction: query.instruction, embedding });
      return matcher.select(embedding, pool, { mode, seed: hashString(query.text, seed), budget, features }).ids;
    },
  };
}

function takeWithinBudget(order: readonly number[], k: number, budget: ContextBudget | undefined): number[] {
  if (!budget) return order.slice(0, k);
  const chosen: number[] = [];
  let used = budget.used ?? 0;
  for (const index of order) {
    if (chosen.length === k) break;
    if (used + budget.costs[index] > budget.limit) continue;
    used += budget.costs[index];
    chosen.push(index);
  }
  return chosen;
}

async function queryEmbedding(
  query: SelectorQuery,
  embedder: Embedder | undefined,
  who: string,
): Promise<ArrayLike<number>> {
  checkQuery(query);
  if (query.embedding) return query.embedding;
  if (!embedder) throw new TypeError(`${who}: the query has no embedding and no embedder was given`);
  return (await embedder.embed([query.text]))[0];
}

function checkQuery(query: SelectorQuery): void {
  if (!query || typeof query.text !== "string")
    throw new TypeError("selector: query must be { text: string, embedding? }");
}

function checkK(k: number, who: string): void {
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`${who}: k must be a non-negative integer, got ${k}`);
}

/**
 * Adapts a selector to "query text → demonstrations" (the shape `pillow serve` asks for): the
 * selector's choice, cut to `count` when given, as pool entries.
 */
export function demoSelector(
  selector: Selector,
  pool: PromptPool,
): { readonly name: string; select(query: string, count?: number): Promise<PromptEntry[]> } {
  return {
    name: selector.name,
    select: async (query, count) => {
      if (count !== undefined && (!Number.isInteger(count) || count < 0)) {
        throw new RangeError(`demoSelector: count must be a non-negative integer, got ${count}`);
      }
      const ids = await selector.select({ text: query });
      return (count === undefined ? ids : ids.slice(0, count)).map((id) => pool.get(id));
    },
  };
}
