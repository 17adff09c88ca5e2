// Training loop over a Model: LoRA (the active adapter) or full-parameter. AdamW with warmup +
// cosine (or constant) learning rate as HF's schedulers, gradient accumulation, global-norm
// clipping, atomic checkpoints and exact resume. Each micro-batch is one native call
// (forward + backward of the whole stack); each optimizer step is one more.
import path from "node:path";
import type { Model, TrainMode } from "./model.js";
import { ModelError } from "./errors.js";
import { learningRateAt } from "./learning-rate-schedule.js";
import { Random } from "./random.js";
import { readLatest, restoreCheckpoint, type TrainerState, writeCheckpoint } from "./training-checkpoint.js";
import { padBatch, type TrainingExample, tokenizeExample } from "./training-examples.js";

export type TrainStepInfo = {
  step: number;
  totalSteps: number;
  epoch: number;
  /** Mean loss over the step's targets. */
  loss: number;
  learningRate: number;
  gradNorm: number;
  /** Tokens processed in this step (padding excluded). */
  tokens: number;
  tokensPerSecond: number;
};

export type TrainOptions = {
  mode?: TrainMode;
  epochs?: number;
  /** Peak learning rate. Default 2e-4 (lora) / 1e-4 (full). */
  lr?: number;
  /** Sequences per micro-batch (one native call). Default 1. */
  batchSize?: number;
  /** Micro-batches per optimizer step. Default 1. */
  gradAccum?: number;
  /** Warmup optimizer steps (linear from 0). Default 0. */
  warmup?: number;
  schedule?: "cosine" | "constant";
  /** Max global gradient norm; 0 = no clipping. Default 1. */
  clip?: number;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** Sequences longer than this are truncated. Default min(max_position_embeddings, 2048). */
  maxLength?: number;
  /** Append the end-of-sequence token to every example. Default true. */
  appendEos?: boolean;
  seed?: number;
  checkpointDir?: string;
  /** Optimizer steps between checkpoints (and one at the end). Default: only at the end. */
  checkpointEvery?: number;
  /** Continue from checkpointDir's latest checkpoint when there is one. */
  resume?: boolean;
  onStep?: (info: TrainStepInfo) => void | Promise<void>;
  /** Stop after this many optimizer steps in this call (the schedule still spans every epoch). */
  maxSteps?: number;
};

export type TrainResult = { steps: number; losses: number[]; finalLoss: number; resumedFrom: number | null };

function positiveInteger(value: number | undefined, fallback: number, name: string, minimum = 1): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < minimum)
    throw new ModelError("E_ARGUMENT", `${name} must be an integer >= ${minimum}, got ${String(value)}`);
  return v;
}

/**
 * Trains the model in place: mode "lora" trains the active adapter's A/B, "full" every weight
 * (no adapter active). Loss is the mean cross-entropy over every target of an optimizer step
 * (all its micro-batches together), on response tokens only for {prompt, response} pairs.
 */
export async function train(
  model: Model,
  dataset: TrainingExample[],
  options: TrainOptions = {},
): Promise<TrainResult> {
  const mode: TrainMode = options.mode ?? (model.activeAdapter ? "lora" : "full");
  if (mode === "lora" && !model.activeAdapter)
    throw new ModelError("E_ARGUMENT", "LoRA training needs an active adapter: addAdapter + setActiveAdapter first");
  if (mode === "full" && model.activeAdapter)
    throw new ModelError("E_ARGUMENT", "full training updates the base weights: setActiveAdapter(null) first");
  if (!Array.isArray(dataset) || dataset.length === 0)
    throw new ModelError("E_ARGUMENT", "dataset must be a non-empty array of examples");
  const adapter = model.activeAdapter;
  const epochs = positiveInteger(options.epochs, 1, "epochs");
  const batchSize = positiveInteger(options.batchSize, 1, "batchSize");
  const gradAccum = positiveInteger(options.gradAccum, 1, "gradAccum");
  const warmup = positiveInteger(options.warmup, 0, "warmup", 0);
  const schedule = options.schedule ?? "cosine";
  if (schedule !== "cosine" && schedule !== "constant")
    throw new ModelError("E_ARGUMENT", `schedule must be "cosine" or "constant", got ${String(schedule)}`);
  const peak = options.lr ?? (mode === "lora" ? 2e-4 : 1e-4);
  if (!(peak > 0) || !Number.isFinite(peak))
    throw new ModelError("E_ARGUMENT", `lr must be a number > 0, got ${String(options.lr)}`);
  const clip = options.clip ?? 1;
  const maxLength = positiveInteger(
    options.maxLength,
    Math.min(model.config.maxPositionEmbeddings, 2048),
    "maxLength",
    2,
  );
  if (maxLength > model.config.maxPositionEmbeddings)
    throw new ModelError(
      "E_ARGUMENT",
      `maxLength ${maxLength} exceeds max_position_embeddings ${model.config.maxPositionEmbeddings}`,
    );
  const sequences = dataset.map((example, index) =>
    tokenizeExample(model, example, { maxLength, appendEos: options.appendEos ?? true }, index),
  );
  const perStep = batchSize * gradAccum;
  const stepsPerEpoch = Math.ceil(sequences.length / perStep);
  const totalSteps = stepsPerEpoch * epochs;

  let state: TrainerState = {
    step: 0,
    epoch: 0,
    position: 0,
    order: [],
    random: new Random(options.seed ?? 0).state(),
    losses: [],
    mode,
    totalSteps,
  };
  let resumedFrom: number | null = null;
  if (options.resume && options.checkpointDir) {
    const latest = readLatest(options.checkpointDir);
    if (latest) {
      state = await model.exclusive(async () => {
        model.setActiveAdapter(adapter);
        return restoreCheckpoint(model, mode, path.join(options.checkpointDir as string, latest));
      });
      if (state.totalSteps !== totalSteps) {
        throw new ModelError(
          "E_CHECKPOINT",
          `the checkpoint was made for ${state.totalSteps} steps, this run has ${totalSteps}: same dataset and options are needed to resume`,
        );
      }
      resumedFrom = state.step;
    }
  }
  if (resumedFrom === null) model.native.resetOptimizerState(mode);
  const random = Random.fromState(state.random);
  const stopAt =
    options.maxSteps === undefined
      ? totalSteps
      : Math.min(totalSteps, state.step + positiveInteger(options.maxSteps, 1, "maxSteps"));

  while (state.step < stopAt) {
    if (state.position === 0 || state.order.length === 0) {
      state.order = random.shuffle(Array.from({ length: sequences.length }, (_, i) => i));
      state.position = 0;
    }
    const stepIndices = state.order.slice(state.position, state.position + perStep);
    const microBatches: ReturnType<typeof padBatch>[] = [];
    for (let i = 0; i < stepIndices.length; i += batchSize) {
      microBatches.push(padBatch(stepIndices.slice(i, i + batchSize).map((index) => sequences[index])));
    }
    const targets = microBatches.reduce((n, b) => n + b.targets, 0);
    const tokens = microBatches.reduce((n, b) => n + b.realTokens, 0);
    const learningRate = learningRateAt(state.step, totalSteps, peak, warmup, schedule);
    const started = performance.now();
    const { loss, gradNorm } = await model.exclusive(async () => {
      model.setActiveAdapter(adapter);
      model.native.zeroGradients(mode);
      let lossSum = 0;
      for (const [index, b] of microBatches.entries()) {
        if (b.targets === 0) continue;
        // Dropout masks follow the optimizer step, so a resumed run draws the masks it would have.
        const dropoutStep = state.step * gradAccum + index;
        const result = await model.native.lossAndGrad(b.tokens, b.labels, {
          batch: b.batch,
          mode,
          accumulate: true,
          gradScale: 1 / targets,
          dropoutStep,
        });
        lossSum += result.lossSum;
      }
      if (targets === 0) return { loss: 0, gradNorm: 0 };
      const step = await model.native.adamwStep(mode, {
        learningRate,
        beta1: options.beta1,
        beta2: options.beta2,
        epsilon: options.epsilon,
        weightDecay: options.weightDecay ?? 0,
        step: state.step + 1,
        maxGradNorm: clip,
      });
      return { loss: lossSum / targets, gradNorm: step.gradNorm };
    });
    const seconds = (performance.now() - started) / 1000;
    state.step += 1;
    state.position += perStep;
    if (state.position >= sequences.length) {
      state.position = 0;
      state.epoch += 1;
    }
    state.losses.push(loss);
    state.random = random.state();
    await options.onStep?.({
      step: state.step,
      totalSteps,
      epoch: state.epoch,
      loss,
      learningRate,
      gradNorm,
      tokens,
      tokensPerSecond: seconds > 0 ? tokens / seconds : 0,
    });
    const checkpointNow =
      options.checkpointDir &&
      ((options.checkpointEvery && state.step % options.checkpointEvery === 0) || state.step === stopAt);
    if (checkpointNow) {
      await model.exclusive(async () => {
        model.setActiveAdapter(adapter);
        writeCheckpoint(model, mode, options.checkpointDir as string, state);
      });
    }
  }
  return {
    steps: state.step,
    losses: state.losses,
    finalLoss: state.losses[state.losses.length - 1] ?? Number.NaN,
    resumedFrom,
  };
}
