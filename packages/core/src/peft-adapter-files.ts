// PEFT adapter folders (adapter_config.json + adapter_model.safetensors): every factor read and checked
// against the model's shapes before anything is registered, and written back in PEFT's layout.
import fs from "node:fs";
import path from "node:path";
import { adaptedLayerIndices, adaptedLayers, linearInFeatures } from "./adapter-layout.js";
import type { ModelConfig } from "./config.js";
import { CheckpointError } from "./errors.js";
import {
  ADAPTER_WEIGHTS_FILE,
  type LinearModule,
  type LoraConfig,
  parsePeftTensorName,
  peftTensorName,
  readAdapterConfig,
  writeAdapterConfig,
} from "./peft.js";
import { SafetensorsCheckpoint, writeSafetensors } from "./safetensors.js";

/** One LoRA factor: A is [r, in], B is [out, r] (row-major), as PEFT stores them. */
export type AdapterFactor = { layer: number; module: LinearModule; part: "A" | "B"; data: Float32Array };

/**
 * Reads a PEFT adapter folder for a model of `config`; `outFeatures(layer, module)` gives the base
 * weight's rows. Throws a CheckpointError naming the file and tensor for a foreign, missing or
 * mis-shaped factor.
 */
export function readPeftAdapter(
  dir: string,
  config: ModelConfig,
  outFeatures: (layer: number, module: LinearModule) => number,
): { lora: LoraConfig; factors: AdapterFactor[] } {
  const lora = readAdapterConfig(dir);
  const file = path.join(dir, ADAPTER_WEIGHTS_FILE);
  const checkpoint = SafetensorsCheckpoint.open(file);
  try {
    const { modules, layers } = adaptedLayers(config, lora, file);
    const expected = new Set<string>();
    for (const layer of adaptedLayerIndices(config, layers)) {
      for (const module of modules)
        for (const part of ["A", "B"] as const) expected.add(peftTensorName(layer, module, part));
    }
    const found = new Map<string, string>();
    for (const tensorName of checkpoint.names()) {
      const parsed = parsePeftTensorName(tensorName);
      if (!parsed)
        throw new CheckpointError(
          "E_ARGUMENT",
          "not a LoRA factor of a linear layer (pillow loads lora_A/lora_B only)",
          { file, tensor: tensorName },
        );
      const canonical = peftTensorName(parsed.layer, parsed.module, parsed.part);
      if (!expected.has(canonical))
        throw new CheckpointError("E_ARGUMENT", "the adapter config does not target this layer/module", {
          file,
          tensor: tensorName,
        });
      found.set(canonical, tensorName);
    }
    for (const canonical of expected) {
      if (!found.has(canonical))
        throw new CheckpointError("E_MISSING_TENSOR", "missing from the adapter", { file, tensor: canonical });
    }
    const factors: AdapterFactor[] = [];
    for (const [canonical, tensorName] of found) {
      const parsed = parsePeftTensorName(canonical);
      if (!parsed) continue;
      const info = checkpoint.info(tensorName);
      const inFeatures = linearInFeatures(config, parsed.module);
      const want = parsed.part === "A" ? [lora.r, inFeatures] : [outFeatures(parsed.layer, parsed.module), lora.r];
      if (info.shape.length !== 2 || info.shape[0] !== want[0] || info.shape[1] !== want[1]) {
        throw new CheckpointError(
          "E_SHAPE",
          `shape [${info.shape.join(", ")}] does not match [${want.join(", ")}] (r = ${lora.r})`,
          { file, tensor: tensorName },
        );
      }
      factors.push({
        layer: parsed.layer,
        module: parsed.module,
        part: parsed.part,
        data: checkpoint.readFloat32(tensorName),
      });
    }
    return { lora, factors };
  } finally {
    checkpoint.close();
  }
}

/** Writes `tensors` (keyed by PEFT tensor names) and the config as a PEFT adapter folder, atomically. */
export function writePeftAdapter(
  dir: string,
  config: ModelConfig,
  lora: LoraConfig,
  tensors: Record<string, Float32Array>,
): void {
  fs.mkdirSync(dir, { recursive: true });
  const shaped: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
  for (const [tensorName, data] of Object.entries(tensors)) {
    const parsed = parsePeftTensorName(tensorName);
    if (!parsed) continue;
    const inFeatures = linearInFeatures(config, parsed.module);
    const shape = parsed.part === "A" ? [lora.r, inFeatures] : [data.length / lora.r, lora.r];
    shaped[tensorName] = { dtype: "F32", shape, data };
  }
  writeSafetensors(path.join(dir, ADAPTER_WEIGHTS_FILE), shaped, { format: "pt" });
  writeAdapterConfig(dir, lora);
}
