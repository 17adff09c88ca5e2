// Loss only, no gradients: each example's mean next-token cross-entropy under the active adapter
// (or the base model). Replay's look-ahead probes many small sets per stage, and a forward pass
// costs about a third of lossAndGrad's forward + backward.
import { type Model, ModelError } from "./model.js";
import { type TrainingExample, tokenizeExample } from "./train.js";

export type ExampleLossOptions = {
  /** Append the end-of-sequence token to each response, as train() does (default true). */
  appendEos?: boolean;
  /** Longest sequence kept (default: min(max_position_embeddings, 2048), as train()). */
  maxLength?: number;
  /** Sequences per forward pass (default 8). */
  batchSize?: number;
};

/** Mean cross-entropy over each example's targets (the response tokens), one value per example. */
export async function exampleLosses(model: Model, dataset: readonly TrainingExample[], options: ExampleLossOptions = {}): Promise<Float64Array> {
  if (!Array.isArray(dataset)) throw new ModelError("E_ARGUMENT", "exampleLosses: dataset must be an array of examples");
  const batchSize = options.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ModelError("E_ARGUMENT", `exampleLosses: batchSize must be an integer >= 1, got ${String(batchSize)}`);
  const maxLength = options.maxLength ?? Math.min(model.config.maxPositionEmbeddings, 2048);
  if (!Number.isInteger(maxLength) || maxLength < 2 || maxLength > model.config.maxPositionEmbeddings) {
    throw new ModelError("E_ARGUMENT", `exampleLosses: maxLength must be an integer in [2, ${model.config.maxPositionEmbeddings}], got ${String(maxLength)}`);
  }
  const sequences = dataset.map((example, index) => tokenizeExample(model, example, { maxLength, appendEos: options.appendEos ?? true }, index));
  const vocab = model.config.vocabSize;
  const adapter = model.activeAdapter;
  const losses = new Float64Array(sequences.length);
  for (let start = 0; start < sequences.length; start += batchSize) {
    const group = sequences.slice(start, start + batchSize);
    // Right padding: causal attention keeps the real positions' logits as they are alone.
    const length = Math.max(...group.map((sequence) => sequence.tokens.length));
    const tokens = new Int32Array(group.length * length);
    group.forEach((sequence, b) => {
      tokens.set(sequence.tokens, b * length);
    });
    const logits = await model.exclusive(() => {
      model.setActiveAdapter(adapter);
      return model.native.forward(tokens, { batch: group.length });
    });
    group.forEach((sequence, b) => {
      let total = 0;
      let count = 0;
      // HF alignment: position t predicts labels[t + 1].
      for (let t = 0; t + 1 < sequence.labels.length; t++) {
        const target = sequence.labels[t + 1];
        if (target === -100) continue;
        const offset = (b * length + t) * vocab;
        let max = Number.NEGATIVE_INFINITY;
        for (let v = 0; v < vocab; v++) if (logits[offset + v] > max) max = logits[offset + v];
        let sum = 0;
        for (let v = 0; v < vocab; v++) sum += Math.exp(logits[offset + v] - max);
        total += max + Math.log(sum) - logits[offset + target];
        count++;
      }
      losses[start + b] = count > 0 ? total / count : 0;
    });
  }
  return losses;
}
