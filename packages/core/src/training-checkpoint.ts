// Atomic training checkpoints and exact resume: the weights being trained (adapter or whole model),
// AdamW's moments and the trainer's state (step, data order, PRNG state, losses), written to a
// temporary folder, renamed into place, then pointed at by latest.json.
import fs from "node:fs";
import path from "node:path";
import type { Model, TrainMode } from "./model.js";
import { ModelError } from "./errors.js";
import { SafetensorsCheckpoint, type WritableTensor, writeSafetensors } from "./safetensors.js";
import { writeFileAtomically } from "./write-file-atomically.js";
import { saveModel } from "./save-model.js";

const LATEST_FILE = "latest.json";
const STATE_FILE = "trainer_state.json";
const OPTIMIZER_FILE = "optimizer.safetensors";

export type TrainerState = {
  step: number;
  epoch: number;
  position: number;
  order: number[];
  random: number[];
  losses: number[];
  mode: TrainMode;
  totalSteps: number;
};

export function writeCheckpoint(model: Model, mode: TrainMode, dir: string, state: TrainerState): void {
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

export function readLatest(dir: string): string | null {
  const file = path.join(dir, LATEST_FILE);
  if (!fs.existsSync(file)) return null;
  try {
    const json = JSON.parse(fs.readFileSync(file, "utf8")) as { checkpoint?: unknown };
    return typeof json.checkpoint === "string" ? json.checkpoint : null;
  } catch (error) {
    throw new ModelError("E_CHECKPOINT", `${file}: not valid JSON (${(error as Error).message})`);
  }
}

export function restoreCheckpoint(model: Model, mode: TrainMode, dir: string): TrainerState {
  const statePath = path.join(dir, STATE_FILE);
  let state: TrainerState;
  try {
    state = JSON.parse(fs.readFileSync(statePath, "utf8")) as TrainerState;
  } catch (error) {
    throw new ModelError("E_CHECKPOINT", `${statePath}: cannot read the trainer state (${(error as Error).message})`);
  }
  if (state.mode !== mode)
    throw new ModelError(
      "E_CHECKPOINT",
      `${statePath}: the checkpoint was written in mode "${state.mode}", not "${mode}"`,
    );
  const weightsDir = path.join(dir, mode === "lora" ? "adapter" : "model");
  const weights = SafetensorsCheckpoint.open(
    path.join(weightsDir, mode === "lora" ? "adapter_model.safetensors" : "model.safetensors"),
  );
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
        if (!weights.has(name))
          throw new ModelError(
            "E_CHECKPOINT",
            `${weightsDir}: tensor ${name} is missing (is it the same adapter configuration?)`,
          );
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
