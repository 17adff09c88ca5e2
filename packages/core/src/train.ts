// Training loop over a Model: LoRA (the active adapter) or full-parameter. AdamW with warmup +
// cosine (or constant) learning rate as HF's schedulers, gradient accumulation, global-norm
// clipping, atomic checkpoints and exact resume. Each micro-batch is one native call
// (forward + backward of the whole stack); each optimizer step is one more.
import fs from "node:fs";
import path from "node:path";
import type { Model, TrainMode } from "./model.js";
import { ModelError } from "./errors.js";
import { Random } from "./random.js";
import { SafetensorsCheckpoint, type WritableTensor, writeSafetensors } from "./safetensors.js";
import { writeFileAtomically } from "./write-file-atomically.js";
import { saveModel } from "./save-model.js";

/** Instruction pairs (loss on the response only), raw text (loss on every token), or token ids. */
export type TrainingExample =
  | { prompt: string; response: string }
  | { prompt: string; completion: string }
  | { text: string }
  | { tokens: Int32Array; labels?: Int32Array };

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

type Sequence = { tokens: Int32Array; labels: Int32Array };

const LATEST_FILE = "latest.json";
const STATE_FILE = "trainer_state.json";
const OPTIMIZER_FILE = "optimizer.safetensors";

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
export function tokenizeExample(model: Model, example: TrainingExample, options: { maxLength: number; appendEos: boolean }, index = 0): Sequence {
  const eosId = model.tokenizer?.eosTokenIds[0] ?? model.config.eosTokenIds[0];
  const eos = options.appendEos && eosId !== undefined ? Int32Array.of(eosId) : new Int32Array(0);
  let tokens: Int32Array;
  let labels: Int32Array;
  if ("tokens" in example) {
    tokens = example.tokens;
    labels = example.labels ?? example.tokens;
    if (labels.length !== tokens.length) throw new ModelError("E_SHAPE", `dataset[${index}]: labels has length ${labels.length}, tokens ${tokens.length}`);
  } else {
    const tokenizer = model.tokenizer;
    if (!tokenizer) throw new ModelError("E_NO_TOKENIZER", `dataset[${index}]: text examples need the model's tokenizer.json (or give token ids)`);
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
  if (tokens.length < 2) throw new ModelError("E_SHAPE", `dataset[${index}] has fewer than 2 tokens: nothing to predict`);
  return { tokens: Int32Array.from(tokens), labels: Int32Array.from(labels) };
}

/** Right-pads sequences to one [batch, T] block; padding is ignored by the loss and by causal attention. */
function padBatch(sequences: Sequence[]): { tokens: Int32Array; labels: Int32Array; batch: number; targets: number; realTokens: number } {
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

/** HF's get_cosine_schedule_with_warmup / get_constant_schedule_with_warmup, at 0-based step s. */
export function learningRateAt(step: number, totalSteps: number, peak: number, warmup: number, schedule: "cosine" | "constant"): number {
  if (step < warmup) return (peak * step) / Math.max(1, warmup);
  if (schedule === "constant") return peak;
  const progress = (step - warmup) / Math.max(1, totalSteps - warmup);
  return peak * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}

type TrainerState = {
  step: number;
  epoch: number;
  position: number;
  order: number[];
  random: number[];
  losses: number[];
  mode: TrainMode;
  totalSteps: number;
};

function positiveInteger(value: number | undefined, fallback: number, name: string, minimum = 1): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < minimum) throw new ModelError("E_ARGUMENT", `${name} must be an integer >= ${minimum}, got ${String(value)}`);
  return v;
}

function writeCheckpoint(model: Model, mode: TrainMode, dir: string, state: TrainerState): void {
  fs.mkdirSync(dir, { recursive: true });
  const name = `checkpoint-${state.step}`;
  const temporary = path.join(dir, `.${name}.tmp-${process.pid}`);
  fs.rmSync(temporary, { recursive: true, force: true });
  fs.mkdirSync(temporary, { recursive: true });
  if (mode === "lora") {
    const adapter = model.activeAdapter;
    if (!adapter) throw new ModelError("E_ARGUMENT", "lost the active adapter during training");
    model.saveAdapter(adapter, path.join(temporary, "adapter"));
  } else {
    saveModel(model, path.join(temporary, "model"));
  }
  const optimizer: Record<string, WritableTensor> = {};
  for (const [key, moments] of Object.entries(model.native.optimizerState(mode))) {
    optimizer[`m/${key}`] = { dtype: "F32", shape: [moments.m.length], data: moments.m };
    optimizer[`v/${key}`] = { dtype: "F32", shape: [moments.v.length], data: moments.v };
  }
  writeSafetensors(path.join(temporary, OPTIMIZER_FILE), optimizer);
  const stateBytes = Buffer.from(JSON.stringify(state), "utf8");
  writeFileAtomically(path.join(temporary, STATE_FILE), stateBytes);
  const final = path.join(dir, name);
  fs.rmSync(final, { recursive: true, force: true });
  fs.renameSync(temporary, final);
  // The pointer is replaced atomically last: a crash before it leaves the previous checkpoint current.
  const previous = readLatest(dir);
  const latestBytes = Buffer.from(JSON.stringify({ checkpoint: name, step: state.step }), "utf8");
  writeFileAtomically(path.join(dir, LATEST_FILE), latestBytes);
  if (previous && previous !== name) fs.rmSync(path.join(dir, previous), { recursive: true, force: true });
}

function readLatest(dir: string): string | null {
  const file = path.join(dir, LATEST_FILE);
  if (!fs.existsSync(file)) return null;
  try {
    const json = JSON.parse(fs.readFileSync(file, "utf8")) as { checkpoint?: unknown };
    return typeof json.checkpoint === "string" ? json.checkpoint : null;
  } catch (error) {
    throw new ModelError("E_CHECKPOINT", `${file}: not valid JSON (${(error as Error).message})`);
  }
}

function restoreCheckpoint(model: Model, mode: TrainMode, dir: string): TrainerState {
  const statePath = path.join(dir, STATE_FILE);
  let state: TrainerState;
  try {
    state = JSON.parse(fs.readFileSync(statePath, "utf8")) as TrainerState;
  } catch (error) {
    throw new ModelError("E_CHECKPOINT", `${statePath}: cannot read the trainer state (${(error as Error).message})`);
  }
  if (state.mode !== mode) throw new ModelError("E_CHECKPOINT", `${statePath}: the checkpoint was written in mode "${state.mode}", not "${mode}"`);
  const weightsDir = path.join(dir, mode === "lora" ? "adapter" : "model");
  const weights = SafetensorsCheckpoint.open(path.join(weightsDir, mode === "lora" ? "adapter_model.safetensors" : "model.safetensors"));
  try {
    if (mode === "lora") {
      const adapter = model.activeAdapter as string;
      const current = model.adapterTensors(adapter);
      for (const name of Object.keys(current)) {
        const [layer, module, part] = (() => {
          const match = /layers\.(\d+)\.\w+\.(\w+)\.lora_(A|B)\.weight$/.exec(name);
          if (!match) throw new ModelError("E_CHECKPOINT", `unexpected adapter tensor ${name}`);
          return [Number(match[1]), match[2], match[3] as "A" | "B"] as const;
        })();
        if (!weights.has(name)) throw new ModelError("E_CHECKPOINT", `${weightsDir}: tensor ${name} is missing (is it the same adapter configuration?)`);
        model.native.setAdapterTensor(adapter, layer, module as never, part, weights.readFloat32(name));
      }
    } else {
      for (const name of model.native.tensorNames()) model.native.setTensor(name, weights.readFloat32(name), "f32");
    }
  } finally {
    weights.close();
  }
  const optimizer = SafetensorsCheckpoint.open(path.join(dir, OPTIMIZER_FILE));
  try {
    model.native.resetOptimizerState(mode);
    for (const name of optimizer.names()) {
      if (!name.startsWith("m/")) continue;
      const key = name.slice(2);
      model.native.setOptimizerState(mode, key, optimizer.readFloat32(name), optimizer.readFloat32(`v/${key}`));
    }
  } finally {
    optimizer.close();
  }
  return state;
}

/**
 * Trains the model in place: mode "lora" trains the active adapter's A/B, "full" every weight
 * (no adapter active). Loss is the mean cross-entropy over every target of an optimizer step
 * (all its micro-batches together), on response tokens only for {prompt, response} pairs.
 */
export async function train(model: Model, dataset: TrainingExample[], options: TrainOptions = {}): Promise<TrainResult> {
  const mode: TrainMode = options.mode ?? (model.activeAdapter ? "lora" : "full");
  if (mode === "lora" && !model.activeAdapter) throw new ModelError("E_ARGUMENT", "LoRA training needs an active adapter: addAdapter + setActiveAdapter first");
  if (mode === "full" && model.activeAdapter) throw new ModelError("E_ARGUMENT", "full training updates the base weights: setActiveAdapter(null) first");
  if (!Array.isArray(dataset) || dataset.length === 0) throw new ModelError("E_ARGUMENT", "dataset must be a non-empty array of examples");
  const adapter = model.activeAdapter;
  const epochs = positiveInteger(options.epochs, 1, "epochs");
  const batchSize = positiveInteger(options.batchSize, 1, "batchSize");
  const gradAccum = positiveInteger(options.gradAccum, 1, "gradAccum");
  const warmup = positiveInteger(options.warmup, 0, "warmup", 0);
  const schedule = options.schedule ?? "cosine";
  if (schedule !== "cosine" && schedule !== "constant") throw new ModelError("E_ARGUMENT", `schedule must be "cosine" or "constant", got ${String(schedule)}`);
  const peak = options.lr ?? (mode === "lora" ? 2e-4 : 1e-4);
  if (!(peak > 0) || !Number.isFinite(peak)) throw new ModelError("E_ARGUMENT", `lr must be a number > 0, got ${String(options.lr)}`);
  const clip = options.clip ?? 1;
  const maxLength = positiveInteger(options.maxLength, Math.min(model.config.maxPositionEmbeddings, 2048), "maxLength", 2);
  if (maxLength > model.config.maxPositionEmbeddings) throw new ModelError("E_ARGUMENT", `maxLength ${maxLength} exceeds max_position_embeddings ${model.config.maxPositionEmbeddings}`);
  const sequences = dataset.map((example, index) => tokenizeExample(model, example, { maxLength, appendEos: options.appendEos ?? true }, index));
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
        throw new ModelError("E_CHECKPOINT", `the checkpoint was made for ${state.totalSteps} steps, this run has ${totalSteps}: same dataset and options are needed to resume`);
      }
      resumedFrom = state.step;
    }
  }
  if (resumedFrom === null) model.native.resetOptimizerState(mode);
  const random = Random.fromState(state.random);
  const stopAt = options.maxSteps === undefined ? totalSteps : Math.min(totalSteps, state.step + positiveInteger(options.maxSteps, 1, "maxSteps"));

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
        const result = await model.native.lossAndGrad(b.tokens, b.labels, { batch: b.batch, mode, accumulate: true, gradScale: 1 / targets, dropoutStep });
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
    const checkpointNow = options.checkpointDir && ((options.checkpointEvery && state.step % options.checkpointEvery === 0) || state.step === stopAt);
    if (checkpointNow) {
      await model.exclusive(async () => {
        model.setActiveAdapter(adapter);
        writeCheckpoint(model, mode, options.checkpointDir as string, state);
      });
    }
  }
  return { steps: state.step, losses: state.losses, finalLoss: state.losses[state.losses.length - 1] ?? Number.NaN, resumedFrom };
}
