// chrF (Popović 2015) as sacrebleu's `sentence_chrf` defaults compute it: character n-grams of
// order 1..6 over the text with whitespace removed, precision and recall averaged over the orders
// both sides have, then F-beta with beta = 2 (recall weighted more). Returned in [0, 1].

import { pythonWhitespaceRun } from "./tokenize.js";

export type ChrfOptions = { order?: number; beta?: number; lowercase?: boolean };

function characterNgrams(characters: readonly string[], n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= characters.length; i++) {
    const key = characters.slice(i, i + n).join("");
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

export function chrF(prediction: string, reference: string, options: ChrfOptions = {}): number {
  const order = options.order ?? 6;
  const beta = options.beta ?? 2;
  if (!Number.isInteger(order) || order < 1)
    throw new RangeError(`chrF: order must be a positive integer, got ${order}`);
  if (!(beta > 0)) throw new RangeError(`chrF: beta must be positive, got ${beta}`);
  // Code points, not UTF-16 units, as Python strings index them.
  const prepare = (text: string): string[] =>
    Array.from((options.lowercase ? text.toLowerCase() : text).replace(pythonWhitespaceRun, ""));
  const hypothesis = prepare(prediction);
  const referenceCharacters = prepare(reference);
  let precisionSum = 0;
  let recallSum = 0;
  let effectiveOrder = 0;
  for (let n = 1; n <= order; n++) {
    const hypothesisCounts = characterNgrams(hypothesis, n);
    const referenceCounts = characterNgrams(referenceCharacters, n);
    const hypothesisTotal = Math.max(0, hypothesis.length - n + 1);
    const referenceTotal = Math.max(0, referenceCharacters.length - n + 1);
    if (hypothesisTotal === 0 || referenceTotal === 0) continue;
    let matches = 0;
    for (const [key, count] of hypothesisCounts) matches += Math.min(count, referenceCounts.get(key) ?? 0);
    precisionSum += matches / hypothesisTotal;
    recallSum += matches / referenceTotal;
    effectiveOrder++;
  }
  if (effectiveOrder === 0) return 0;
  const precision = precisionSum / effectiveOrder;
  const recall = recallSum / effectiveOrder;
  if (precision + recall === 0) return 0;
  const factor = beta * beta;
  return ((1 + factor) * precision * recall) / (factor * precision + recall);
}
