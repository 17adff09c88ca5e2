// HF config.json → one normalised, validated ModelConfig. HF configs vary by architecture and by
// transformers version (defaults left out, `rope_type` vs `type`, `dtype` vs `torch_dtype`, eos as a
// number or a list); everything downstream reads this one shape instead.

import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { ConfigError } from "./errors.js";

export const SUPPORTED_ARCHITECTURES = ["LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"] as const;
export type Architecture = (typeof SUPPORTED_ARCHITECTURES)[number];

export type RopeScaling =
  | null
  | {
      type: "llama3";
      factor: number;
      lowFreqFactor: number;
      highFreqFactor: number;
      originalMaxPositionEmbeddings: number;
    }
  | { type: "linear"; factor: number };

export type ModelConfig = {
  architecture: Architecture;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  vocabSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** Bias on q, k and v projections (never on o_proj): true for Qwen2. */
  attentionBias: boolean;
  /** Mistral/Qwen2 sliding-window attention span, or null when attention is full. */
  slidingWindow: number | null;
  bosTokenId: number | null;
  eosTokenIds: number[];
  torchDtype: string | null;
  /** The config.json as read, for fields this type does not carry. */
  raw: Record<string, unknown>;
};

const MODEL_TYPES: Record<Architecture, string> = {
  LlamaForCausalLM: "llama",
  MistralForCausalLM: "mistral",
  Qwen2ForCausalLM: "qwen2",
};

const positiveInteger = z.number().int().positive();
const tokenId = z.number().int().nonnegative();

const ropeScalingSchema = z.union([
  z.null(),
  z.looseObject({
    rope_type: z.string().optional(),
    type: z.string().optional(),
    factor: z.number().positive().optional(),
    low_freq_factor: z.number().positive().optional(),
    high_freq_factor: z.number().positive().optional(),
    original_max_position_embeddings: positiveInteger.optional(),
  }),
]);

const hfConfigSchema = z.looseObject({
  architectures: z.array(z.string()).min(1),
  hidden_size: positiveInteger,
  intermediate_size: positiveInteger,
  num_hidden_layers: positiveInteger,
  num_attention_heads: positiveInteger,
  num_key_value_heads: positiveInteger.nullish(),
  head_dim: positiveInteger.nullish(),
  vocab_size: positiveInteger,
  rms_norm_eps: z.number().positive(),
  rope_theta: z.number().positive().optional(),
  rope_scaling: ropeScalingSchema.optional(),
  max_position_embeddings: positiveInteger.optional(),
  tie_word_embeddings: z.boolean().optional(),
  attention_bias: z.boolean().optional(),
  mlp_bias: z.boolean().optional(),
  hidden_act: z.string().optional(),
  sliding_window: positiveInteger.nullish(),
  use_sliding_window: z.boolean().optional(),
  bos_token_id: tokenId.nullish(),
  eos_token_id: z.union([tokenId, z.array(tokenId)]).nullish(),
  torch_dtype: z.string().nullish(),
  dtype: z.string().nullish(),
});

function fieldName(issuePath: PropertyKey[]): string {
  return issuePath
    .map((part) => (typeof part === "number" ? `[${part}]` : String(part)))
    .join(".")
    .replace(/\.\[/g, "[");
}

function normaliseRopeScaling(value: z.infer<typeof ropeScalingSchema> | undefined, source: string): RopeScaling {
  if (value === null || value === undefined) return null;
  const type = value.rope_type ?? value.type;
  const field = (name: string) => ({ file: source, field: `rope_scaling.${name}` });
  if (type === undefined || type === "default") return null;
  if (type === "linear") {
    if (value.factor === undefined)
      throw new ConfigError("E_FIELD", "missing (required for linear rope scaling)", field("factor"));
    return { type: "linear", factor: value.factor };
  }
  if (type === "llama3") {
    for (const name of ["factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"] as const) {
      if (value[name] === undefined)
        throw new ConfigError("E_FIELD", "missing (required for llama3 rope scaling)", field(name));
    }
    return {
      type: "llama3",
      factor: value.factor!,
      lowFreqFactor: value.low_freq_factor!,
      highFreqFactor: value.high_freq_factor!,
      originalMaxPositionEmbeddings: value.original_max_position_embeddings!,
    };
  }
  throw new ConfigError(
    "E_UNSUPPORTED",
    `rope scaling type ${JSON.stringify(type)} is not supported (llama3, linear)`,
    field("rope_type"),
  );
}

/** Validates a parsed config.json; `source` names the file in errors. */
export function parseModelConfig(json: unknown, source: string): ModelConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new ConfigError("E_JSON", "config is not a JSON object", { file: source });
  }
  const result = hfConfigSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = fieldName(issue.path);
    const received = issue.path.reduce<unknown>(
      (value, key) => (value as Record<PropertyKey, unknown> | undefined)?.[key as string],
      json,
    );
    const reason = received === undefined ? "missing" : `${issue.message} (got ${JSON.stringify(received)})`;
    throw new ConfigError("E_FIELD", reason, { file: source, field });
  }
  const hf = result.data;
  const architecture = hf.architectures[0];
  if (!(SUPPORTED_ARCHITECTURES as readonly string[]).includes(architecture)) {
    throw new ConfigError(
      "E_UNSUPPORTED",
      `architecture ${JSON.stringify(architecture)} is not supported (${SUPPORTED_ARCHITECTURES.join(", ")})`,
      {
        file: source,
        field: "architectures",
      },
    );
  }
  const typedArchitecture = architecture as Architecture;
  if (hf.hidden_act !== undefined && hf.hidden_act !== "silu") {
    throw new ConfigError("E_UNSUPPORTED", `activation ${JSON.stringify(hf.hidden_act)} is not supported (silu)`, {
      file: source,
      field: "hidden_act",
    });
  }
  if (hf.mlp_bias === true) {
    throw new ConfigError("E_UNSUPPORTED", "MLP biases are not supported", { file: source, field: "mlp_bias" });
  }
  // Llama's attention_bias puts a bias on o_proj too, a layout no released LLaMA-family checkpoint
  // uses; refusing it is better than silently dropping weights.
  if (typedArchitecture !== "Qwen2ForCausalLM" && hf.attention_bias === true) {
    throw new ConfigError("E_UNSUPPORTED", "attention biases on Llama/Mistral (q, k, v and o) are not supported", {
      file: source,
      field: "attention_bias",
    });
  }
  const numHeads = hf.num_attention_heads;
  const numKeyValueHeads = hf.num_key_value_heads ?? numHeads;
  if (numHeads % numKeyValueHeads !== 0) {
    throw new ConfigError(
      "E_FIELD",
      `num_attention_heads (${numHeads}) is not a multiple of num_key_value_heads (${numKeyValueHeads})`,
      {
        file: source,
        field: "num_key_value_heads",
      },
    );
  }
  if (hf.head_dim == null && hf.hidden_size % numHeads !== 0) {
    throw new ConfigError(
      "E_FIELD",
      `hidden_size (${hf.hidden_size}) is not a multiple of num_attention_heads (${numHeads}) and head_dim is not given`,
      {
        file: source,
        field: "head_dim",
      },
    );
  }
  const headDim = hf.head_dim ?? hf.hidden_size / numHeads;
  if (headDim % 2 !== 0)
    throw new ConfigError("E_FIELD", `head_dim ${headDim} must be even for rotary embeddings`, {
      file: source,
      field: "head_dim",
    });

  let slidingWindow: number | null = null;
  if (typedArchitecture === "MistralForCausalLM") slidingWindow = hf.sliding_window ?? null;
  if (typedArchitecture === "Qwen2ForCausalLM" && hf.use_sliding_window === true)
    slidingWindow = hf.sliding_window ?? null;

  const eos = hf.eos_token_id;
  return {
    architecture: typedArchitecture,
    hiddenSize: hf.hidden_size,
    intermediateSize: hf.intermediate_size,
    numLayers: hf.num_hidden_layers,
    numHeads,
    numKeyValueHeads,
    headDim,
    vocabSize: hf.vocab_size,
    rmsNormEps: hf.rms_norm_eps,
    ropeTheta: hf.rope_theta ?? 10000,
    ropeScaling: normaliseRopeScaling(hf.rope_scaling, source),
    maxPositionEmbeddings: hf.max_position_embeddings ?? 2048,
    tieWordEmbeddings: hf.tie_word_embeddings ?? false,
    attentionBias: typedArchitecture === "Qwen2ForCausalLM",
    slidingWindow,
    bosTokenId: hf.bos_token_id ?? null,
    eosTokenIds: eos == null ? [] : Array.isArray(eos) ? [...eos] : [eos],
    torchDtype: hf.torch_dtype ?? hf.dtype ?? null,
    raw: json as Record<string, unknown>,
  };
}

/** Reads `DIR/config.json`. */
export function readModelConfig(dir: string): ModelConfig {
  const file = path.join(dir, "config.json");
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    throw new ConfigError("E_FILE_NOT_FOUND", "not found (is this an HF model folder?)", { file });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError("E_JSON", `not valid JSON (${(error as Error).message})`, { file });
  }
  return parseModelConfig(json, file);
}

/** The config.json HF would write for this config: `raw` with the normalised fields laid over it. */
export function toHfConfigJson(config: ModelConfig): Record<string, unknown> {
  const ropeScaling =
    config.ropeScaling === null
      ? null
      : config.ropeScaling.type === "linear"
        ? { rope_type: "linear", type: "linear", factor: config.ropeScaling.factor }
        : {
            rope_type: "llama3",
            factor: config.ropeScaling.factor,
            low_freq_factor: config.ropeScaling.lowFreqFactor,
            high_freq_factor: config.ropeScaling.highFreqFactor,
            original_max_position_embeddings: config.ropeScaling.originalMaxPositionEmbeddings,
          };
  const json: Record<string, unknown> = {
    ...config.raw,
    architectures: [config.architecture],
    model_type: MODEL_TYPES[config.architecture],
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    num_hidden_layers: config.numLayers,
    num_attention_heads: config.numHeads,
    num_key_value_heads: config.numKeyValueHeads,
    head_dim: config.headDim,
    vocab_size: config.vocabSize,
    rms_norm_eps: config.rmsNormEps,
    rope_theta: config.ropeTheta,
    rope_scaling: ropeScaling,
    max_position_embeddings: config.maxPositionEmbeddings,
    tie_word_embeddings: config.tieWordEmbeddings,
    hidden_act: "silu",
    bos_token_id: config.bosTokenId,
    eos_token_id: config.eosTokenIds.length === 1 ? config.eosTokenIds[0] : config.eosTokenIds,
    torch_dtype: config.torchDtype,
  };
  if (config.architecture !== "Qwen2ForCausalLM") json.attention_bias = false;
  if (config.architecture === "MistralForCausalLM") json.sliding_window = config.slidingWindow;
  if (config.architecture === "Qwen2ForCausalLM") {
    json.use_sliding_window = config.slidingWindow !== null;
    if (config.slidingWindow !== null) json.sliding_window = config.slidingWindow;
  }
  return json;
}
