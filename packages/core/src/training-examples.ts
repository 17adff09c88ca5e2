// What the trainer eats: a dataset example (instruction pair, raw text or token ids) tokenized into
// tokens and HF-aligned labels, and sequences right-padded into one [batch, T] micro-batch.
import type { Model } from "./model.js";
import { ModelError } from "./errors.js";

/** Instruction pairs (loss on the response only), raw text (loss on every token), or token ids. */
export type TrainingExample =
  | { prompt: string; response: string }
  | { prompt: string; completion: string }
  | { text: string }
  | { tokens: Int32Array; labels?: Int32Array };

export type Sequence = { tokens: Int32Array; labels: Int32Array };

function concat(parts: Int32Array[]): Int32Array {
  const out = new Int32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Tokens and HF-aligned labels of one example (-100 on the prompt). */
export function tokenizeExample(
  model: Model,
  example: TrainingExample,
  options: { maxLength: number; appendEos: boolean },
  index = 0,
): Sequence {
  const eosId = model.tokenizer?.eosTokenIds[0] ?? model.config.eosTokenIds[0];
  const eos = options.appendEos && eosId !== undefined ? Int32Array.of(eosId) : new Int32Array(0);
  let tokens: Int32Array;
  let labels: Int32Array;
  if ("tokens" in example) {
    tokens = example.tokens;
    labels = example.labels ?? example.tokens;
    if (labels.length !== tokens.length)
      throw new ModelError("E_SHAPE", `dataset[${index}]: labels has length ${labels.length}, tokens ${tokens.length}`);
  } else {
    const tokenizer = model.tokenizer;
    if (!tokenizer)
      throw new ModelError(
        "E_NO_TOKENIZER",
        `dataset[${index}]: text examples need the model's tokenizer.json (or give token ids)`,
      );
    if ("text" in example) {
      if (typeof example.text !== "string") throw new ModelError("E_TYPE", `dataset[${index}].text must be a string`);
      tokens = concat([tokenizer.encode(example.text, { addSpecialTokens: true }), eos]);
      labels = tokens;
    } else {
      const response = "response" in example ? example.response : example.completion;
      if (typeof example.prompt !== "string" || typeof response !== "string") {
        throw new ModelError("E_TYPE", `dataset[${index}]: prompt and response must be strings`);
      }
      const prompt = tokenizer.encode(example.prompt, { addSpecialTokens: true });
      const answer = concat([tokenizer.encode(response, { addSpecialTokens: false }), eos]);
      tokens = concat([prompt, answer]);
      labels = concat([new Int32Array(prompt.length).fill(-100), answer]);
    }
  }
  if (tokens.length > options.maxLength) {
    tokens = tokens.subarray(0, options.maxLength);
    labels = labels.subarray(0, options.maxLength);
  }
  if (tokens.length < 2)
    throw new ModelError("E_SHAPE", `dataset[${index}] has fewer than 2 tokens: nothing to predict`);
  return { tokens: Int32Array.from(tokens), labels: Int32Array.from(labels) };
}

/** Right-pads sequences to one [batch, T] block; padding is ignored by the loss and by causal attention. */
export function padBatch(sequences: Sequence[]): {
  tokens: Int32Array;
  labels: Int32Array;
  batch: number;
  targets: number;
  realTokens: number;
} {
  const length = Math.max(...sequences.map((s) => s.tokens.length));
  const tokens = new Int32Array(sequences.length * length);
  const labels = new Int32Array(sequences.length * length).fill(-100);
  let targets = 0;
  let realTokens = 0;
  sequences.forEach((s, b) => {
    tokens.set(s.tokens, b * length);
    labels.set(s.labels, b * length);
    for (let t = 1; t < s.labels.length; t++) if (s.labels[t] !== -100) targets++;
    realTokens += s.tokens.length;
  });
  return { tokens, labels, batch: sequences.length, targets, realTokens };
}
