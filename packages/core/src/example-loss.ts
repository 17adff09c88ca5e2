// Loss only, no gradients: each example's mean next-token cross-entropy under the active adapter
// (or the base model). Replay's look-ahead probes many small sets per stage, and a forward pass
// costs about a third of lossAndGrad's forward + backward. The forward and the log-softmax are
// Model.scoreContinuations' (one definition of teacher-forced scoring); this file only turns a
// training example into the (prompt, continuation) pair train() would learn from.
import { ModelError } from "./errors.js";
import type { Model } from "./model.js";
import { type TrainingExample, tokenizeExample } from "./training-examples.js";

export type ExampleLossOptions = {
  /** Append the end-of-sequence token to each response, as train() does (default true). */
  appendEos?: boolean;
  /** Longest sequence kept (default: min(max_position_embeddings, 2048), as train()). */
  maxLength?: number;
  /** Sequences per forward pass (default 8). */
  batchSize?: number;
};

/** Mean cross-entropy over each example's targets (the response tokens), one value per example. */
export async function exampleLosses(
  model: Model,
  dataset: readonly TrainingExample[],
  options: ExampleLossOptions = {},
): Promise<Float64Array> {
  if (!Array.isArray(dataset))
    throw new ModelError("E_ARGUMENT", "exampleLosses: dataset must be an array of examples");
  const batchSize = options.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new ModelError("E_ARGUMENT", `exampleLosses: batchSize must be an integer >= 1, got ${String(batchSize)}`);
  const maxLength = options.maxLength ?? Math.min(model.config.maxPositionEmbeddings, 2048);
  if (!Number.isInteger(maxLength) || maxLength < 2 || maxLength > model.config.maxPositionEmbeddings) {
    throw new ModelError(
      "E_ARGUMENT",
      `exampleLosses: maxLength must be an integer in [2, ${model.config.maxPositionEmbeddings}], got ${String(maxLength)}`,
    );
  }
  const pairs = dataset.map((example, index) => {
    const { tokens, labels } = tokenizeExample(
      model,
      example,
      { maxLength, appendEos: options.appendEos ?? true },
      index,
    );
    // The targets are the tokens after the prompt (labels -100 mark the prompt, as in train());
    // the first token is never a target (nothing before it predicts it).
    let promptLength = 0;
    while (promptLength < labels.length && labels[promptLength] === -100) promptLength++;
    promptLength = Math.max(1, promptLength);
    for (let t = promptLength; t < labels.length; t++) {
      if (labels[t] !== tokens[t]) {
        throw new ModelError(
          "E_ARGUMENT",
          `exampleLosses: dataset[${index}] masks or relabels tokens after its prompt (position ${t}); score it with lossAndGrad`,
        );
      }
    }
    return { prompt: tokens.subarray(0, promptLength), continuation: tokens.subarray(promptLength) };
  });
  const longest = Math.max(1, ...pairs.map((pair) => pair.prompt.length + pair.continuation.length));
  const scores = await model.scoreContinuations(pairs, { maxBatchTokens: batchSize * longest });
  return Float64Array.from(scores, (score) => (score.count > 0 ? -score.logProb / score.count : 0));
}
