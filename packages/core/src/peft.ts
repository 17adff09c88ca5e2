// PEFT LoRA adapter formats: adapter_config.json and the tensor names in adapter_model.safetensors,
// so adapters made with Python's PEFT load here and adapters trained here load in PEFT.

import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { ConfigError } from "./errors.js";
import { writeFileAtomically } from "./write-file-atomically.js";

export const LINEAR_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const;
export type LinearModule = (typeof LINEAR_MODULES)[number];

export type LoraConfig = {
  r: number;
  alpha: number;
  /** The linear modules adapted (a subset of LINEAR_MODULES), resolved from PEFT's list, regex or "all-linear". */
  targetModules: LinearModule[];
  dropout: number;
  rslora: boolean;
  baseModel?: string;
  bias: "none";
  /** PEFT's target_modules when it was a regex string: it may select some layers only. */
  targetPattern?: string;
  /** PEFT's layers_to_transform: only these layers are adapted (all when absent). */
  layersToTransform?: number[];
};

export const ADAPTER_CONFIG_FILE = "adapter_config.json";
export const ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors";

/** `self_attn` or `mlp`: where a module sits inside a decoder layer. */
export function moduleBlock(module: LinearModule): "self_attn" | "mlp" {
  return module === "q_proj" || module === "k_proj" || module === "v_proj" || module === "o_proj" ? "self_attn" : "mlp";
}

/** The HF name of a module's weight, e.g. `model.layers.0.self_attn.q_proj.weight`. */
export function hfTensorName(layer: number, module: LinearModule, kind: "weight" | "bias" = "weight"): string {
  return `model.layers.${layer}.${moduleBlock(module)}.${module}.${kind}`;
}

/** The PEFT name of a LoRA factor, e.g. `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`. */
export function peftTensorName(layer: number, module: LinearModule, part: "A" | "B"): string {
  return `base_model.model.model.layers.${layer}.${moduleBlock(module)}.${module}.lora_${part}.weight`;
}

const PEFT_NAME =
  /^(?:base_model\.model\.)?model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)\.lora_(A|B)(?:\.[A-Za-z0-9_-]+)?\.weight$/;

/**
 * Parses a PEFT LoRA tensor name (with or without the adapter-name segment PEFT keeps in memory,
 * e.g. `.lora_A.default.weight`). Returns null for a name that is not a LoRA factor of a linear module.
 */
export function parsePeftTensorName(name: string): { layer: number; module: LinearModule; part: "A" | "B" } | null {
  const match = PEFT_NAME.exec(name);
  if (!match) return null;
  const module = match[3] as LinearModule;
  if (!(LINEAR_MODULES as readonly string[]).includes(module) || moduleBlock(module) !== match[2]) return null;
  return { layer: Number(match[1]), module, part: match[4] as "A" | "B" };
}

/** The factor applied to B·A: alpha/r, or alpha/√r with rsLoRA. */
export function loraScale(config: Pick<LoraConfig, "r" | "alpha" | "rslora">): number {
  return config.rslora ? config.alpha / Math.sqrt(config.r) : config.alpha / config.r;
}

/** The dotted module path PEFT matches target_modules against. */
function modulePath(layer: number, module: LinearModule): string {
  return `model.layers.${layer}.${moduleBlock(module)}.${module}`;
}

/** Whether PEFT would put a LoRA on this layer's module under `config`. */
export function isLoraTarget(config: LoraConfig, layer: number, module: LinearModule): boolean {
  if (config.layersToTransform && !config.layersToTransform.includes(layer)) return false;
  if (config.targetPattern !== undefined)
    return new RegExp(`^(?:${config.targetPattern})$`).test(modulePath(layer, module));
  return config.targetModules.includes(module);
}

const adapterConfigSchema = z.looseObject({
  peft_type: z.string().optional(),
  r: z.number().int().positive(),
  lora_alpha: z.number().positive(),
  target_modules: z.union([z.array(z.string()).min(1), z.string().min(1)]),
  lora_dropout: z.number().min(0).max(1).optional(),
  use_rslora: z.boolean().optional(),
  bias: z.string().optional(),
  base_model_name_or_path: z.string().nullish(),
  fan_in_fan_out: z.boolean().optional(),
  use_dora: z.boolean().optional(),
  layers_to_transform: z.union([z.number().int().nonnegative(), z.array(z.number().int().nonnegative())]).nullish(),
  rank_pattern: z.record(z.string(), z.unknown()).nullish(),
  alpha_pattern: z.record(z.string(), z.unknown()).nullish(),
  modules_to_save: z.array(z.string()).nullish(),
});

/** How many layers a regex target is tried against to find which module kinds it names. */
const PATTERN_PROBE_LAYERS = 256;

/** Validates a parsed adapter_config.json; `source` names the file in errors. */
export function parseAdapterConfig(json: unknown, source: string): LoraConfig {
  const result = adapterConfigSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue.path.map(String).join(".") || "(root)";
    const received = issue.path.reduce<unknown>(
      (value, key) => (value as Record<PropertyKey, unknown> | undefined)?.[key as string],
      json,
    );
    throw new ConfigError(
      "E_FIELD",
      received === undefined ? "missing" : `${issue.message} (got ${JSON.stringify(received)})`,
      { file: source, field },
    );
  }
  const peft = result.data;
  const unsupported = (field: string, why: string) => new ConfigError("E_UNSUPPORTED", why, { file: source, field });
  if (peft.peft_type !== undefined && peft.peft_type !== "LORA")
    throw unsupported("peft_type", `${JSON.stringify(peft.peft_type)} adapters are not supported (LORA)`);
  if (peft.bias !== undefined && peft.bias !== "none")
    throw unsupported("bias", `bias ${JSON.stringify(peft.bias)} is not supported (none)`);
  if (peft.use_dora === true) throw unsupported("use_dora", "DoRA adapters are not supported");
  if (peft.fan_in_fan_out === true)
    throw unsupported("fan_in_fan_out", "fan_in_fan_out (GPT-2 Conv1D layout) is not supported");
  if (peft.rank_pattern && Object.keys(peft.rank_pattern).length > 0)
    throw unsupported("rank_pattern", "per-module ranks are not supported");
  if (peft.alpha_pattern && Object.keys(peft.alpha_pattern).length > 0)
    throw unsupported("alpha_pattern", "per-module alphas are not supported");
  if (peft.modules_to_save && peft.modules_to_save.length > 0)
    throw unsupported("modules_to_save", "fully trained extra modules are not supported");

  let targetModules: LinearModule[];
  let targetPattern: string | undefined;
  const target = peft.target_modules;
  if (typeof target === "string" && target !== "all-linear") {
    try {
      new RegExp(target);
    } catch (error) {
      throw new ConfigError("E_FIELD", `not a valid regular expression (${(error as Error).message})`, {
        file: source,
        field: "target_modules",
      });
    }
    targetPattern = target;
    const pattern = new RegExp(`^(?:${target})$`);
    targetModules = LINEAR_MODULES.filter((module) => {
      for (let layer = 0; layer < PATTERN_PROBE_LAYERS; layer++)
        if (pattern.test(modulePath(layer, module))) return true;
      return false;
    });
  } else if (target === "all-linear" || (Array.isArray(target) && target.includes("all-linear"))) {
    targetModules = [...LINEAR_MODULES];
  } else {
    const names = target as string[];
    // PEFT matches a list entry against the module path exactly or as a dotted suffix
    // ("q_proj", "self_attn.q_proj").
    const matches = (name: string, module: LinearModule) => {
      const modulePathText = modulePath(0, module);
      return modulePathText === name || modulePathText.endsWith(`.${name}`);
    };
    targetModules = LINEAR_MODULES.filter((module) => names.some((name) => matches(name, module)));
    const unknown = names.filter((name) => !LINEAR_MODULES.some((module) => matches(name, module)));
    if (unknown.length > 0) {
      throw unsupported(
        "target_modules",
        `${unknown.map((name) => JSON.stringify(name)).join(", ")} not supported (LoRA targets: ${LINEAR_MODULES.join(", ")})`,
      );
    }
  }
  if (targetModules.length === 0)
    throw unsupported("target_modules", "selects no linear module of a LLaMA-family model");

  const layers = peft.layers_to_transform;
  const config: LoraConfig = {
    r: peft.r,
    alpha: peft.lora_alpha,
    targetModules,
    dropout: peft.lora_dropout ?? 0,
    rslora: peft.use_rslora ?? false,
    bias: "none",
  };
  if (peft.base_model_name_or_path) config.baseModel = peft.base_model_name_or_path;
  if (targetPattern !== undefined) config.targetPattern = targetPattern;
  if (layers !== null && layers !== undefined)
    config.layersToTransform = Array.isArray(layers) ? [...layers] : [layers];
  return config;
}

/** Reads `DIR/adapter_config.json`. */
export function readAdapterConfig(dir: string): LoraConfig {
  const file = path.join(dir, ADAPTER_CONFIG_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    throw new ConfigError("E_FILE_NOT_FOUND", "not found (is this a PEFT adapter folder?)", { file });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError("E_JSON", `not valid JSON (${(error as Error).message})`, { file });
  }
  return parseAdapterConfig(json, file);
}

/** The adapter_config.json PEFT writes for a LoRA on a causal LM. */
export function toAdapterConfigJson(config: LoraConfig): Record<string, unknown> {
  return {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: config.baseModel ?? null,
    bias: "none",
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: config.layersToTransform ?? null,
    lora_alpha: config.alpha,
    lora_dropout: config.dropout,
    modules_to_save: null,
    peft_type: "LORA",
    r: config.r,
    rank_pattern: {},
    revision: null,
    target_modules: config.targetPattern ?? [...config.targetModules].sort(),
    task_type: "CAUSAL_LM",
    use_dora: false,
    use_rslora: config.rslora,
  };
}

/** Writes `DIR/adapter_config.json` atomically (creating DIR). */
export function writeAdapterConfig(dir: string, config: LoraConfig): void {
  fs.mkdirSync(dir, { recursive: true });
  const bytes = Buffer.from(`${JSON.stringify(toAdapterConfigJson(config), null, 2)}\n`, "utf8");
  writeFileAtomically(path.join(dir, ADAPTER_CONFIG_FILE), bytes);
}
