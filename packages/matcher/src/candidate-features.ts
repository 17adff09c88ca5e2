// Per-(query, entry) features that enter the matcher's entry score beside s·z_p, each with a learned
// weight: score_p = s·z_p + Σ_f w_f · feature_f(query, p). They let the policy start from what the
// fixed selectors know (kNN's cosine, BM25's term matches, "this demonstration answers the very same
// instruction") and let RL learn how much each is worth, per query through s and overall through w.
//
//   cosine           cosine(query embedding, entry embedding), in [-1, 1]
//   bm25             the entry's BM25 score for the query text divided by the best entry's (0 when no
//                    entry shares a word), in [0, 1]: raw BM25 grows with query length
//   sameInstruction  1 when the entry's instruction equals the query's (NFKC, case and whitespace
//                    folded), else 0

import { Bm25Index } from "./bm25.js";
import { MatcherError } from "./errors.js";
import type { EmbeddedPool } from "./matching-network.js";
import { entryText, type PromptEntry } from "./pool.js";
import { cosineSimilarity } from "./vectors.js";

export const candidateFeatureNames = ["cosine", "bm25", "sameInstruction"] as const;
export type CandidateFeatureName = (typeof candidateFeatureNames)[number];

/** A query as the features see it: its text (instruction + input), instruction and embedding. */
export type FeatureQuery = { text: string; instruction?: string; embedding: ArrayLike<number> };

export function isCandidateFeatureName(name: unknown): name is CandidateFeatureName {
  return typeof name === "string" && (candidateFeatureNames as readonly string[]).includes(name);
}

/** The instruction as sameInstruction compares it. */
export function normalizedInstruction(text: string): string {
  return text.normalize("NFKC").toLowerCase().replace(/\s+/g, " ").trim();
}

/** Computes the [pool size × features] matrix of one query; built once per pool. */
export class CandidateFeatureSpace {
  readonly names: readonly CandidateFeatureName[];
  readonly size: number;
  private readonly embeddings: readonly ArrayLike<number>[] | undefined;
  private readonly bm25: Bm25Index | undefined;
  private readonly instructions: string[];

  constructor(
    pool: { readonly entries: readonly PromptEntry[] } & Partial<EmbeddedPool>,
    names: readonly CandidateFeatureName[],
  ) {
    for (const name of names) {
      if (!isCandidateFeatureName(name)) {
        throw new MatcherError(
          "E_UNKNOWN_NAME",
          `CandidateFeatureSpace: unknown feature ${JSON.stringify(name)} (use ${candidateFeatureNames.join(", ")})`,
          {
            field: "names",
          },
        );
      }
    }
    this.names = [...names];
    this.size = pool.entries.length;
    this.embeddings = names.includes("cosine") ? pool.embeddings : undefined;
    if (names.includes("cosine") && !this.embeddings)
      throw new TypeError("CandidateFeatureSpace: the cosine feature needs an embedded pool");
    this.bm25 = names.includes("bm25") ? new Bm25Index(pool.entries.map(entryText)) : undefined;
    this.instructions = pool.entries.map((entry) => normalizedInstruction(entry.instruction));
  }

  compute(query: FeatureQuery): Float64Array {
    if (!query || typeof query.text !== "string") throw new TypeError("CandidateFeatureSpace: the query needs a text");
    const count = this.names.length;
    const features = new Float64Array(this.size * count);
    this.names.forEach((name, f) => {
      const column = this.column(name, query);
      for (let p = 0; p < this.size; p++) features[p * count + f] = column[p];
    });
    return features;
  }

  private column(name: CandidateFeatureName, query: FeatureQuery): ArrayLike<number> {
    switch (name) {
      case "cosine":
        return this.embeddings!.map((vector) => cosineSimilarity(query.embedding, vector));
      case "bm25": {
        const scores = this.bm25!.scores(query.text);
        const best = scores.reduce((maximum, value) => Math.max(maximum, value), 0);
        return best > 0 ? scores.map((value) => value / best) : scores;
      }
      case "sameInstruction": {
        const instruction = normalizedInstruction(query.instruction ?? query.text);
        return this.instructions.map((entry) => (entry === instruction ? 1 : 0));
      }
    }
  }
}
