// ROUGE-L F1 on lower-cased alphanumeric tokens — InsCL's metric, the default score of the LoRA learner.

function tokens(text: string): string[] {
  return text.toLowerCase().match(/[a-z0-9]+/g) ?? [];
}

/** ROUGE-L F1 in [0, 1] from the longest common subsequence; two empty texts score 1, one empty 0. */
export function rougeLF1(prediction: string, reference: string): number {
  const predicted = tokens(prediction);
  const expected = tokens(reference);
  if (predicted.length === 0 && expected.length === 0) return 1;
  if (predicted.length === 0 || expected.length === 0) return 0;
  let previous = new Int32Array(expected.length + 1);
  for (let i = 1; i <= predicted.length; i++) {
    const current = new Int32Array(expected.length + 1);
    for (let j = 1; j <= expected.length; j++) {
      current[j] = predicted[i - 1] === expected[j - 1] ? previous[j - 1] + 1 : Math.max(previous[j], current[j - 1]);
    }
    previous = current;
  }
  const common = previous[expected.length];
  if (common === 0) return 0;
  const precision = common / predicted.length;
  const recall = common / expected.length;
  return (2 * precision * recall) / (precision + recall);
}
