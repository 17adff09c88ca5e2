// The rewards a rollout can be scored with. Every reward maps (prediction, reference) to a number,
// higher is better; any function of that shape (sync or async) can be used instead.

import { cosineSimilarity, type Embedder } from "@pillow/matcher";
import { RlError } from "../errors.js";
import { bleu } from "./bleu.js";
import { chrF } from "./chrf.js";
import { type RougeOptions, rougeLScore, rougeNScore } from "./rouge.js";

export type RewardFunction = (prediction: string, reference: string) => number | Promise<number>;

export type ExactMatchOptions = { normalize?: boolean };

/**
 * 1 when the answer equals the reference, else 0. By default both are compared after NFKC, lower-
 * casing, trimming and collapsing whitespace (answers often differ only in case or a trailing newline).
 */
export function exactMatch(prediction: string, reference: string, options: ExactMatchOptions = {}): number {
  const normalize = (text: string): string =>
    options.normalize === false ? text : text.normalize("NFKC").toLowerCase().trim().replace(/\s+/g, " ");
  return normalize(prediction) === normalize(reference) ? 1 : 0;
}

/** Cosine similarity of the two texts' embeddings under a frozen embedder (in [-1, 1]). */
export function embeddingCosine(embedder: Embedder): RewardFunction {
  if (!embedder || typeof embedder.embed !== "function")
    throw new TypeError("embeddingCosine: embedder must be an Embedder");
  return async (prediction, reference) => {
    if (prediction.trim() === "" || reference.trim() === "") return 0;
    const [a, b] = await embedder.embed([prediction, reference]);
    return cosineSimilarity(a, b);
  };
}

export const rewards = {
  rougeL: (prediction: string, reference: string, options?: RougeOptions): number =>
    rougeLScore(prediction, reference, options).fmeasure,
  rouge1: (prediction: string, reference: string, options?: RougeOptions): number =>
    rougeNScore(prediction, reference, 1, options).fmeasure,
  rouge2: (prediction: string, reference: string, options?: RougeOptions): number =>
    rougeNScore(prediction, reference, 2, options).fmeasure,
  bleu,
  chrF,
  exactMatch,
  embeddingCosine,
};

export type RewardName = "rougeL" | "rouge1" | "rouge2" | "bleu" | "chrF" | "exactMatch";

/** A reward by name (for the CLI) or a user function, checked. */
export function resolveReward(reward: RewardName | RewardFunction | undefined): RewardFunction {
  if (reward === undefined) return rewards.rougeL;
  if (typeof reward === "function") return reward;
  const named: Record<RewardName, RewardFunction> = {
    rougeL: rewards.rougeL,
    rouge1: rewards.rouge1,
    rouge2: rewards.rouge2,
    bleu: (a, b) => bleu(a, b),
    chrF: (a, b) => chrF(a, b),
    exactMatch: (a, b) => exactMatch(a, b),
  };
  const found = named[reward as RewardName];
  if (!found)
    throw new RlError(
      "E_UNKNOWN_NAME",
      `unknown reward "${reward}" (expected ${Object.keys(named).join(", ")} or a function)`,
      { field: "reward" },
    );
  return found;
}

export { type BleuOptions, bleu } from "./bleu.js";
export { type ChrfOptions, chrF } from "./chrf.js";
export { longestCommonSubsequence } from "@pillow/core";
export { type RougeOptions, type RougeScore, rougeLScore, rougeNScore } from "./rouge.js";
export { pythonSplit, rougeTokens, type Tokenizer, tokenize13a, unicodeTokens } from "./tokenize.js";
