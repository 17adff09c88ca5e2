// ROUGE-L as Google's `rouge-score` package computes it by default: lower-case, every run of
// characters outside [a-z0-9] separates tokens, no stemming, F1 of the longest common subsequence's
// precision and recall, 0 when either side has no token. The one ROUGE-L of the repository: the
// suite's evaluation, replay's CL scores and rl's rewards all score with it.

/** rouge-score's default tokeniser. Non-ASCII letters separate words and vanish, as there. */
export function rougeTokens(text: string): string[] {
  if (typeof text !== "string") throw new TypeError(`rougeTokens: expected a string, got ${typeof text}`);
  return text.toLowerCase().match(/[a-z0-9]+/g) ?? [];
}

/** Length of the longest common subsequence of two token lists (O(n·m) time, two rows of memory). */
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

export type RougeScore = { precision: number; recall: number; fmeasure: number };

/** ROUGE-L precision, recall and F1 of two token lists (0 when either is empty). */
export function rougeLOfTokens(prediction: readonly string[], reference: readonly string[]): RougeScore {
  if (prediction.length === 0 || reference.length === 0) return { precision: 0, recall: 0, fmeasure: 0 };
  const common = longestCommonSubsequence(reference, prediction);
  const precision = common / prediction.length;
  const recall = common / reference.length;
  const fmeasure = common > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, fmeasure };
}

/** ROUGE-L F1 in [0, 1] with rouge-score's default tokeniser. */
export function rougeL(prediction: string, reference: string): number {
  return rougeLOfTokens(rougeTokens(prediction), rougeTokens(reference)).fmeasure;
}
