// ROUGE as Google's rouge-score computes it by default (no stemming): n-gram overlap for
// ROUGE-N, longest common subsequence for ROUGE-L; F1 of precision and recall.

import { type Tokenizer, tokenizeWith } from "./tokenize.js";

export type RougeScore = { precision: number; recall: number; fmeasure: number };
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
  if (!Number.isInteger(n) || n < 1) throw new Error(`rougeN: n must be a positive integer, got ${n}`);
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

/** Length of the longest common subsequence (two-row dynamic programme). */
export function longestCommonSubsequence(a: readonly string[], b: readonly string[]): number {
  if (a.length === 0 || b.length === 0) return 0;
  let previous = new Int32Array(b.length + 1);
  let current = new Int32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      current[j] = a[i - 1] === b[j - 1] ? previous[j - 1] + 1 : Math.max(previous[j], current[j - 1]);
    }
    [previous, current] = [current, previous];
  }
  return previous[b.length];
}

export function rougeLScore(prediction: string, reference: string, options: RougeOptions = {}): RougeScore {
  const predictionTokens = tokenizeWith(options.tokenizer, prediction);
  const referenceTokens = tokenizeWith(options.tokenizer, reference);
  if (predictionTokens.length === 0 || referenceTokens.length === 0) return { precision: 0, recall: 0, fmeasure: 0 };
  const common = longestCommonSubsequence(referenceTokens, predictionTokens);
  const precision = common / predictionTokens.length;
  const recall = common / referenceTokens.length;
  return { precision, recall, fmeasure: fmeasure(precision, recall) };
}
