// ROUGE-L F1 on lower-cased alphanumeric tokens: the suite's answer metric (InsCL reports ROUGE-L).

export function rougeTokens(text: string): string[] {
  return text.toLowerCase().match(/[a-z0-9]+/g) ?? [];
}

/** Length of the longest common subsequence of two token lists (O(n·m) time, O(m) memory). */
export function longestCommonSubsequence(a: readonly string[], b: readonly string[]): number {
  let previous = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    const current = new Array<number>(b.length + 1).fill(0);
    for (let j = 1; j <= b.length; j++) {
      current[j] = a[i - 1] === b[j - 1] ? previous[j - 1] + 1 : Math.max(previous[j], current[j - 1]);
    }
    previous = current;
  }
  return previous[b.length];
}

/** ROUGE-L F1 in [0, 1]; two empty token lists score 1, one empty list scores 0. */
export function rougeL(prediction: string, reference: string): number {
  const predicted = rougeTokens(prediction);
  const expected = rougeTokens(reference);
  if (predicted.length === 0 && expected.length === 0) return 1;
  const common = longestCommonSubsequence(predicted, expected);
  if (common === 0) return 0;
  const precision = common / predicted.length;
  const recall = common / expected.length;
  return (2 * precision * recall) / (precision + recall);
}
