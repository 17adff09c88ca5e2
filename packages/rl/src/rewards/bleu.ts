// Sentence-level BLEU exactly as sacrebleu's `sentence_bleu` defaults compute it: 13a tokenisation,
// case-sensitive, n-grams up to 4, brevity penalty, "exp" smoothing (Chen & Cherry 2014 method 3,
// as in NIST mteval: the k-th order with no match gets precision 1 / (2^k · total)), and effective
// order (orders the hypothesis is too short to have are left out). Returned in [0, 1].

import { type Tokenizer, tokenize13a, tokenizeWith } from "./tokenize.js";

export type BleuOptions = { maxOrder?: number; lowercase?: boolean; tokenizer?: Tokenizer | "13a" };

export function bleu(prediction: string, reference: string, options: BleuOptions = {}): number {
  const maxOrder = options.maxOrder ?? 4;
  if (!Number.isInteger(maxOrder) || maxOrder < 1)
    throw new RangeError(`bleu: maxOrder must be a positive integer, got ${maxOrder}`);
  const tokenize = (text: string): string[] => {
    const prepared = options.lowercase ? text.toLowerCase() : text;
    return options.tokenizer === undefined || options.tokenizer === "13a"
      ? tokenize13a(prepared)
      : tokenizeWith(options.tokenizer, prepared);
  };
  const hypothesis = tokenize(prediction);
  const referenceTokens = tokenize(reference);
  const correct = new Array<number>(maxOrder).fill(0);
  const total = new Array<number>(maxOrder).fill(0);
  for (let n = 1; n <= maxOrder; n++) {
    const referenceCounts = new Map<string, number>();
    for (let i = 0; i + n <= referenceTokens.length; i++) {
      const key = referenceTokens.slice(i, i + n).join(" ");
      referenceCounts.set(key, (referenceCounts.get(key) ?? 0) + 1);
    }
    const hypothesisCounts = new Map<string, number>();
    for (let i = 0; i + n <= hypothesis.length; i++) {
      const key = hypothesis.slice(i, i + n).join(" ");
      hypothesisCounts.set(key, (hypothesisCounts.get(key) ?? 0) + 1);
    }
    for (const [key, count] of hypothesisCounts) {
      total[n - 1] += count;
      correct[n - 1] += Math.min(count, referenceCounts.get(key) ?? 0);
    }
  }
  if (correct.every((count) => count === 0)) return 0;
  const brevityPenalty =
    hypothesis.length < referenceTokens.length ? Math.exp(1 - referenceTokens.length / hypothesis.length) : 1;
  let logSum = 0;
  let effectiveOrder = 0;
  let smoothing = 1;
  for (let n = 1; n <= maxOrder; n++) {
    if (total[n - 1] === 0) break;
    effectiveOrder = n;
    let precision: number;
    if (correct[n - 1] === 0) {
      smoothing *= 2;
      precision = 1 / (smoothing * total[n - 1]);
    } else precision = correct[n - 1] / total[n - 1];
    logSum += Math.log(precision);
  }
  return brevityPenalty * Math.exp(logSum / effectiveOrder);
}
