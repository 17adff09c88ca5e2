// ROUGE as Google's rouge-score computes it by default (no stemming): n-gram overlap for
// ROUGE-N, longest common subsequence for ROUGE-L; F1 of precision and recall.

import { type RougeScore, rougeLOfTokens } from "@pillow/core";
import { type Tokenizer, tokenizeWith } from "./tokenize.js";

export type { RougeScore };
export type RougeOptions = { tokenizer?: Tokenizer };

function fmeasure(precision: number, recall: number): number {
  return precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
}

function ngramCounts(tokens: readonly string[], n: number): Map<string, number> {
  const counts = new Map<string, number>();
  // "\u0000" cannot occur inside a token, so joined keys are unambiguous.
  for (let i = 0; i + n <= tokens.length; i++) {
    const key = tokens.slice(i, i + n).join("\u0000");
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

export function rougeNScore(prediction: string, reference: string, n: number, options: RougeOptions = {}): RougeScore {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`rougeN: n must be a positive integer, got ${n}`);
  const predictionCounts = ngramCounts(tokenizeWith(options.tokenizer, prediction), n);
  const referenceCounts = ngramCounts(tokenizeWith(options.tokenizer, reference), n);
  let overlap = 0;
  let referenceTotal = 0;
  let predictionTotal = 0;
  for (const [key, count] of referenceCounts) {
    overlap += Math.min(count, predictionCounts.get(key) ?? 0);
    referenceTotal += count;
  }
  for (const count of predictionCounts.values()) predictionTotal += count;
  const precision = overlap / Math.max(predictionTotal, 1);
  const recall = overlap / Math.max(referenceTotal, 1);
  return { precision, recall, fmeasure: fmeasure(precision, recall) };
}

/** ROUGE-L through @pillow/core's implementation, with this package's choice of tokeniser. */
export function rougeLScore(prediction: string, reference: string, options: RougeOptions = {}): RougeScore {
  return rougeLOfTokens(tokenizeWith(options.tokenizer, prediction), tokenizeWith(options.tokenizer, reference));
}
