// Teacher-forced scoring: log p(continuation | prompt) of token sequences, left-padded into batches
// of at most maxBatchTokens padded tokens (longest first), one forward each, log-softmax in float64.
// Model.scoreContinuations validates and encodes the pairs; this is the arithmetic behind it.
import type { ScoredContinuation } from "./backend.js";
import { ModelError } from "./errors.js";

export type ScoringPair = { prompt: string | Int32Array; continuation: string | Int32Array };
export type ScoringOptions = {
  /** Padded tokens per forward pass (batch × longest sequence). Default 8192. */
  maxBatchTokens?: number;
  /** Encode the prompt with the tokenizer's special tokens (BOS). Default true. */
  addSpecialTokens?: boolean;
};

/** log softmax(row)[target], computed stably in float64. */
export function logSoftmaxAt(row: ArrayLike<number>, target: number): number {
  let maximum = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < row.length; i++) if (row[i] > maximum) maximum = row[i];
  let total = 0;
  for (let i = 0; i < row.length; i++) total += Math.exp(row[i] - maximum);
  return row[target] - maximum - Math.log(total);
}

/** One sequence to score: prompt tokens then continuation tokens; `index` orders the results. */
export type ScoringSequence = { tokens: Int32Array; promptLength: number; index: number };

/** Logits [batch·T, vocab] of left-padded sequences (Model.native.forward). */
export type BatchForward = (
  tokens: Int32Array,
  shape: { batch?: number; paddings?: Int32Array },
) => Promise<Float32Array>;

/** Σ log p over each sequence's continuation tokens and their count, in `index` order. */
export async function scoreTokenSequences(
  forward: BatchForward,
  sequences: readonly ScoringSequence[],
  vocab: number,
  maxBatchTokens: number,
): Promise<ScoredContinuation[]> {
  const results: ScoredContinuation[] = new Array(sequences.length);
  // Longest first, so each batch pads little.
  const order = [...sequences].sort((a, b) => b.tokens.length - a.tokens.length);
  for (let start = 0; start < order.length; ) {
    const length = order[start].tokens.length;
    const batch = Math.max(1, Math.min(order.length - start, Math.floor(maxBatchTokens / length)));
    const group = order.slice(start, start + batch);
    start += batch;
    const tokens = new Int32Array(batch * length);
    const paddings = new Int32Array(batch);
    group.forEach((sequence, b) => {
      paddings[b] = length - sequence.tokens.length;
      tokens.set(sequence.tokens, b * length + paddings[b]);
    });
    const logits = await forward(tokens, batch > 1 ? { batch, paddings } : {});
    group.forEach((sequence, b) => {
      let logProb = 0;
      // Position p predicts token p + 1; the continuation starts at promptLength.
      for (let t = sequence.promptLength; t < sequence.tokens.length; t++) {
        const row = logits.subarray((b * length + paddings[b] + t - 1) * vocab, (b * length + paddings[b] + t) * vocab);
        logProb += logSoftmaxAt(row, sequence.tokens[t]);
      }
      if (!Number.isFinite(logProb)) throw new ModelError("E_NONFINITE_LOGITS", "the model produced non-finite logits");
      results[sequence.index] = { logProb, count: sequence.tokens.length - sequence.promptLength };
    });
  }
  return results;
}
