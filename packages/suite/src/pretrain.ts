// pretrainTinyModel: random-initialise the tiny LLaMA from a seed and pretrain every parameter on
// the suite's corpus with @pillow/core's native trainer, then save it in HF format.
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { createTinyModel, loadModel, saveModel, type TrainingExample, type TrainStepInfo, train } from "@pillow/core";
import { buildPretrainingCorpus, type CorpusDocument } from "./corpus.js";
import { SuiteError } from "./errors.js";
import { type TinyModelShape, tinyGenerationConfig, tinyModelShape } from "./tinyModel.js";
import { buildTokenizerConfigJson } from "./tokenizer.js";

export type PretrainOptions = {
  outDir: string;
  seed?: number;
  /** Optimizer steps. */
  steps: number;
  shape?: TinyModelShape;
  /** Documents per micro-batch (one native call) and micro-batches per step. Defaults 4 and 4. */
  batchSize?: number;
  gradAccum?: number;
  /** Peak learning rate (default 3e-3), linear warm-up steps (default 30), cosine decay after. */
  lr?: number;
  warmup?: number;
  /** Native threads (default: every core). */
  threads?: number;
  /**
   * Start from this checkpoint's weights (an earlier run's output folder) instead of a random
   * initialisation: a second phase with its own warm-up and cosine schedule, on a corpus drawn from
   * `seed` (use another seed than the first phase so the documents are new).
   */
  initialModel?: string;
  /** Share of few-shot documents with other tasks' demonstrations (CorpusOptions.distractorShare; default 0). */
  distractorShare?: number;
  onStep?: (info: TrainStepInfo) => void;
};

export type PretrainResult = { steps: number; finalLoss: number; seconds: number; documents: number };

/**
 * Token ids and labels of a corpus document: the loss covers its answers (every demonstration's and
 * the query's, each with its newline) and nothing else, so capacity goes to answering. Byte-level:
 * character i of the (ASCII) text is token i + 1, after BOS.
 */
export function corpusExample(document: CorpusDocument, encode: (text: string) => Int32Array): TrainingExample {
  const tokens = encode(document.text);
  if (tokens.length !== Buffer.byteLength(document.text) + 1) {
    throw new TypeError(
      "corpusExample: encode (the tokenizer) must be byte-level with a BOS token (one token per byte)",
    );
  }
  const labels = new Int32Array(tokens.length).fill(-100);
  for (const [start, end] of document.answerSpans) {
    for (let i = start; i < end; i++) labels[i + 1] = tokens[i + 1];
  }
  return { tokens, labels };
}

export async function pretrainTinyModel(options: PretrainOptions): Promise<PretrainResult> {
  const { outDir, steps } = options;
  if (typeof outDir !== "string" || outDir.length === 0)
    throw new TypeError("pretrainTinyModel: outDir must be a path");
  if (!Number.isInteger(steps) || steps < 1)
    throw new RangeError(`pretrainTinyModel: steps must be a positive integer, got ${steps}`);
  // Checked before anything is written, so bad options leave no half-made model folder behind.
  const distractorShare = options.distractorShare ?? 0;
  if (!(distractorShare >= 0 && distractorShare <= 1)) {
    throw new RangeError(`pretrainTinyModel: distractorShare must be in [0, 1], got ${options.distractorShare}`);
  }
  const seed = options.seed ?? 0;
  const shape = options.shape ?? tinyModelShape;
  const batchSize = options.batchSize ?? 4;
  const gradAccum = options.gradAccum ?? 4;
  const started = Date.now();
  if (options.initialModel !== undefined) {
    await mkdir(outDir, { recursive: true });
    for (const file of ["config.json", "model.safetensors", "tokenizer.json"]) {
      const source = path.join(options.initialModel, file);
      await copyFile(source, path.join(outDir, file)).catch((error: Error) => {
        throw new SuiteError(
          "E_MODEL_FILE",
          `pretrainTinyModel: cannot read the initial model's ${file} (${error.message})`,
          { file: source },
          { cause: error },
        );
      });
    }
  } else {
    createTinyModel(outDir, {
      hiddenSize: shape.hiddenSize,
      intermediateSize: shape.intermediateSize,
      numLayers: shape.layers,
      numHeads: shape.attentionHeads,
      numKeyValueHeads: shape.keyValueHeads,
      maxPositionEmbeddings: 512,
      tieWordEmbeddings: true,
      seed,
    });
  }
  await writeFile(
    path.join(outDir, "tokenizer_config.json"),
    `${JSON.stringify(buildTokenizerConfigJson(), null, 2)}\n`,
  );
  await writeFile(path.join(outDir, "generation_config.json"), `${JSON.stringify(tinyGenerationConfig(), null, 2)}\n`);
  const model = await loadModel(outDir, options.threads === undefined ? {} : { threads: options.threads });
  const tokenizer = model.tokenizer!;
  // Exactly one epoch of `steps` optimizer steps, so the cosine schedule ends on the last step.
  const documents = buildPretrainingCorpus({
    seed,
    size: steps * batchSize * gradAccum,
    distractorShare,
  });
  const dataset = documents.map((document) => corpusExample(document, (text) => tokenizer.encode(text)));
  const result = await train(model, dataset, {
    mode: "full",
    epochs: 1,
    lr: options.lr ?? 3e-3,
    warmup: options.warmup ?? 30,
    batchSize,
    gradAccum,
    weightDecay: 0.01,
    beta2: 0.95,
    clip: 1,
    appendEos: false,
    maxLength: 512,
    seed,
    onStep: options.onStep,
  });
  saveModel(model, outDir);
  return {
    steps: result.steps,
    finalLoss: result.finalLoss,
    seconds: (Date.now() - started) / 1000,
    documents: documents.length,
  };
}
