// Loading a GGUF file (llama.cpp / Ollama) as a pillow Model: `{arch}.*` metadata → ModelConfig,
// `tokenizer.ggml.*` → the Tokenizer (gguf-tokenizer.ts), tensors → the native model's HF-named
// tensors with llama.cpp's q/k rope permutation undone. The header and the whole tensor table are
// checked before any tensor is read (gguf-reader.ts); every tensor's shape is checked against the
// config before the native model gets it. Q8_0, Q4_0 and Q4_K linear weights and token embeddings
// are kept as their blocks by default (quantized: "keep"; decode then reads 34 / 18 bytes per 32
// weights or 144 per 256, GEMMs dequantize while packing, a looked-up embedding row is decoded, and
// a tied model's output layer multiplies the embedding's blocks as llama.cpp's does); every other
// quantized tensor (Q5_K, Q6_K) is dequantized into f32 at load. Either way the model computes on
// exactly the values llama.cpp's blocks hold.

import path from "node:path";
import { loadAddon, resolveDevice } from "@pillow/lora-kernels";
import { type ModelConfig, parseModelConfig } from "./config.js";
import { CheckpointError, ModelError } from "./errors.js";
import { ggufTensorName, llama3RopeFactors, unpermuteRowsFromGgufRope } from "./gguf.js";
import { GGML_TYPES, GgmlType } from "./gguf-format.js";
import { GgufKeys } from "./gguf-keys.js";
import { type GgufFile, readGguf } from "./gguf-reader.js";
import { ggufTokenizer } from "./gguf-tokenizer.js";
import type { LoadModelOptions } from "./load-model.js";
import { Model } from "./model.js";
import { nativeConfig } from "./native-config.js";

/** general.architecture → the HF architecture pillow runs it as (llama.cpp runs Mistral as "llama"). */
const ARCHITECTURES: Record<string, "LlamaForCausalLM" | "Qwen2ForCausalLM"> = {
  llama: "LlamaForCausalLM",
  qwen2: "Qwen2ForCausalLM",
};

/** The HF config.json equivalent of a GGUF's metadata; every key checked and named on error. */
export function ggufModelConfig(gguf: GgufFile): ModelConfig {
  const keys = new GgufKeys(gguf.metadata, gguf.file);
  const architecture = keys.required("general.architecture", keys.string("general.architecture"));
  const hfArchitecture = ARCHITECTURES[architecture];
  if (!hfArchitecture) {
    keys.fail(
      "general.architecture",
      `architecture ${JSON.stringify(architecture)} is not supported (${Object.keys(ARCHITECTURES).join(", ")})`,
      "E_UNSUPPORTED",
    );
  }
  const key = (name: string) => `${architecture}.${name}`;
  const integer = (name: string) => keys.integer(key(name));
  const required = (name: string) => keys.required(key(name), integer(name));
  if ((integer("expert_count") ?? 0) > 0)
    keys.fail(key("expert_count"), "mixture-of-experts models are not supported", "E_UNSUPPORTED");
  const hiddenSize = required("embedding_length");
  const numHeads = required("attention.head_count");
  const headDim = integer("attention.key_length") ?? hiddenSize / numHeads;
  const valueLength = integer("attention.value_length");
  if (valueLength !== undefined && valueLength !== headDim) {
    keys.fail(
      key("attention.value_length"),
      `value heads of ${valueLength} differ from key heads of ${headDim}, which pillow does not run`,
      "E_UNSUPPORTED",
    );
  }
  const ropeDimensions = integer("rope.dimension_count");
  if (ropeDimensions !== undefined && ropeDimensions !== headDim) {
    keys.fail(
      key("rope.dimension_count"),
      `rope over ${ropeDimensions} of ${headDim} head dimensions (partial rotary) is not supported`,
      "E_UNSUPPORTED",
    );
  }
  const embedding = gguf.tensors.find((tensor) => tensor.name === "token_embd.weight");
  if (!embedding)
    throw new CheckpointError("E_MISSING_TENSOR", "the file has no token embedding", {
      file: gguf.file,
      tensor: "token_embd.weight",
    });
  const vocabSize = integer("vocab_size") ?? embedding.dims[1];
  const epsilon = keys.required(
    key("attention.layer_norm_rms_epsilon"),
    keys.number(key("attention.layer_norm_rms_epsilon")),
  );

  const hf: Record<string, unknown> = {
    architectures: [hfArchitecture],
    model_type: architecture,
    hidden_size: hiddenSize,
    intermediate_size: required("feed_forward_length"),
    num_hidden_layers: required("block_count"),
    num_attention_heads: numHeads,
    num_key_value_heads: integer("attention.head_count_kv") ?? numHeads,
    head_dim: headDim,
    vocab_size: vocabSize,
    rms_norm_eps: epsilon,
    rope_theta: keys.number(key("rope.freq_base")) ?? 10000,
    max_position_embeddings: integer("context_length") ?? 2048,
    tie_word_embeddings: !gguf.tensors.some((tensor) => tensor.name === "output.weight"),
    hidden_act: "silu",
    rope_scaling: null,
  };
  const scalingType = keys.string(key("rope.scaling.type"));
  if (scalingType === "linear") {
    hf.rope_scaling = {
      rope_type: "linear",
      factor: keys.required(key("rope.scaling.factor"), keys.number(key("rope.scaling.factor"))),
    };
  } else if (scalingType !== undefined && scalingType !== "none") {
    keys.fail(
      key("rope.scaling.type"),
      `rope scaling ${JSON.stringify(scalingType)} is not supported (none, linear, llama3 through rope_freqs.weight)`,
      "E_UNSUPPORTED",
    );
  }
  const bos = keys.integer("tokenizer.ggml.bos_token_id");
  const eos = keys.integer("tokenizer.ggml.eos_token_id");
  if (bos !== undefined) hf.bos_token_id = bos;
  if (eos !== undefined) hf.eos_token_id = eos;
  if (headDim !== Math.floor(headDim))
    keys.fail(
      key("attention.key_length"),
      `missing, and embedding_length ${hiddenSize} is not a multiple of head_count ${numHeads}`,
    );
  // The derived checks (GQA divisibility, even head_dim, …) are config.json's; errors name the file.
  let config = parseModelConfig(hf, gguf.file);
  if (gguf.tensors.some((tensor) => tensor.name === "rope_freqs.weight")) {
    if (scalingType !== undefined && scalingType !== "none")
      keys.fail(key("rope.scaling.type"), "given together with rope_freqs.weight");
    const ropeScaling = llama3ScalingFromFactors(config, gguf.readFloat32("rope_freqs.weight"), gguf.file);
    config = { ...config, ropeScaling, raw: { ...hf, rope_scaling: hfLlama3Scaling(ropeScaling) } };
  }
  return config;
}

function hfLlama3Scaling(scaling: ModelConfig["ropeScaling"]): Record<string, unknown> | null {
  if (scaling?.type !== "llama3") return null;
  return {
    rope_type: "llama3",
    factor: scaling.factor,
    low_freq_factor: scaling.lowFreqFactor,
    high_freq_factor: scaling.highFreqFactor,
    original_max_position_embeddings: scaling.originalMaxPositionEmbeddings,
  };
}

/**
 * Llama-3 rope scaling back from llama.cpp's per-frequency divisors (rope_freqs.weight). Between its
 * two bands the divisor d satisfies (1/d − 1/factor)/(1 − 1/factor) = a/wavelength − b with
 * a = original/(high − low) and b = low/(high − low); only a and b shape the divisors, so taking
 * low = 1 loses nothing. The result is checked by recomputing every divisor.
 */
function llama3ScalingFromFactors(
  config: ModelConfig,
  divisors: Float32Array,
  file: string,
): ModelConfig["ropeScaling"] {
  const where = { file, tensor: "rope_freqs.weight" };
  const half = config.headDim / 2;
  if (divisors.length !== half)
    throw new CheckpointError(
      "E_SHAPE",
      `has ${divisors.length} values, head_dim ${config.headDim} needs ${half}`,
      where,
    );
  const factor = Math.max(...divisors);
  if (divisors.every((value) => Math.abs(value - 1) < 1e-6)) return null;
  const wavelength = (i: number) => (2 * Math.PI) / (1 / config.ropeTheta ** ((2 * i) / config.headDim));
  const between: { inverse: number; smooth: number }[] = [];
  for (let i = 0; i < half; i++) {
    const d = divisors[i];
    if (d > 1 + 1e-6 && d < factor * (1 - 1e-6))
      between.push({ inverse: 1 / wavelength(i), smooth: (1 / d - 1 / factor) / (1 - 1 / factor) });
  }
  const unsupported = (why: string): never => {
    throw new CheckpointError(
      "E_DTYPE",
      `rope frequency factors ${why}; pillow reads Llama-3 rope scaling only`,
      where,
    );
  };
  if (between.length < 2)
    unsupported("have fewer than two values between the bands, so Llama-3's parameters cannot be recovered");
  const first = between[0];
  const last = between[between.length - 1];
  const a = (last.smooth - first.smooth) / (last.inverse - first.inverse);
  const b = a * first.inverse - first.smooth;
  if (!(a > 0 && b > 0)) unsupported("do not follow Llama-3's smooth interpolation");
  const scaling = {
    type: "llama3" as const,
    factor,
    lowFreqFactor: 1,
    highFreqFactor: 1 + 1 / b,
    originalMaxPositionEmbeddings: a / b,
  };
  const recomputed = llama3RopeFactors({ ...config, ropeScaling: scaling });
  for (let i = 0; i < half; i++) {
    if (Math.abs(recomputed[i] - divisors[i]) > 1e-4 * divisors[i])
      unsupported(`differ from Llama-3's at index ${i} (${divisors[i]} vs ${recomputed[i]})`);
  }
  return scaling;
}

/** The ggml types whose blocks the native model keeps for a linear weight or the embedding (setTensor's storeAs, block bytes). */
const KEPT_BLOCKS: Partial<Record<number, { storeAs: "q8_0" | "q4_0" | "q4_k"; blockBytes: number }>> = {
  [GgmlType.Q8_0]: { storeAs: "q8_0", blockBytes: GGML_TYPES[GgmlType.Q8_0].blockBytes },
  [GgmlType.Q4_0]: { storeAs: "q4_0", blockBytes: GGML_TYPES[GgmlType.Q4_0].blockBytes },
  [GgmlType.Q4_K]: { storeAs: "q4_k", blockBytes: GGML_TYPES[GgmlType.Q4_K].blockBytes },
};

/**
 * The tensors the native model can keep as blocks: its matmul weights (the seven per-layer
 * projections and an untied output layer) and the token embedding, whose rows are decoded when
 * looked up and which a tied model's output layer multiplies as blocks, as llama.cpp does.
 */
function keepsBlocks(name: string): boolean {
  return name.endsWith("_proj.weight") || name === "lm_head.weight" || name === "model.embed_tokens.weight";
}

/** Loads a GGUF file as a Model (what loadModel does for a path ending in .gguf). */
export async function loadGgufModel(
  file: string,
  options: LoadModelOptions & { dtype: "f32" | "bf16" },
): Promise<Model> {
  const gguf = readGguf(file);
  const config = ggufModelConfig(gguf);
  const tokenizer = ggufTokenizer(gguf.metadata, file);
  const device = resolveDevice(options.device);
  const quantized = options.quantized ?? (device === "cuda" ? "dequantize" : "keep");
  if (quantized !== "keep" && quantized !== "dequantize")
    throw new ModelError("E_ARGUMENT", `quantized must be "keep" or "dequantize", got ${String(quantized)}`);
  if (quantized === "keep" && device === "cuda")
    throw new ModelError(
      "E_UNSUPPORTED",
      'quantized: "keep" runs on the CPU only; the CUDA path needs quantized: "dequantize"',
    );
  const addon = loadAddon();
  const native = new addon.LlamaModel(nativeConfig(config), { device });
  const byName = new Map(gguf.tensors.map((tensor) => [tensor.name, tensor]));
  const used = new Set<string>(["rope_freqs.weight"]);
  // llama.cpp's "normal" rope (llama) pairs adjacent rows; Qwen2's NeoX rope is HF's layout already.
  const permuted = config.architecture !== "Qwen2ForCausalLM";
  for (const name of native.tensorNames()) {
    const ggufName = ggufTensorName(name);
    if (!ggufName)
      throw new CheckpointError("E_MISSING_TENSOR", "the native model needs a tensor GGUF has no name for", {
        file,
        tensor: name,
      });
    const info = byName.get(ggufName);
    if (!info)
      throw new CheckpointError(
        "E_MISSING_TENSOR",
        `missing from the file (required by its ${config.architecture} metadata)`,
        { file, tensor: ggufName },
      );
    used.add(ggufName);
    const want = native.tensorShape(name);
    const shape = [...info.dims].reverse();
    if (shape.length !== want.length || shape.some((d, i) => d !== want[i])) {
      throw new CheckpointError(
        "E_SHAPE",
        `shape [${shape.join(", ")}] (${GGML_TYPES[info.type].name}) does not match the metadata's [${want.join(", ")}]`,
        { file, tensor: ggufName },
      );
    }
    const projection = /\.attn_(q|k)\.weight$/.exec(ggufName)?.[1];
    const unpermute = <Rows extends Float32Array | Uint8Array>(rows: Rows, columns: number): Rows =>
      permuted && projection
        ? unpermuteRowsFromGgufRope(
            rows,
            shape[0],
            columns,
            projection === "q" ? config.numHeads : config.numKeyValueHeads,
          )
        : rows;
    const kept = quantized === "keep" && keepsBlocks(name) ? KEPT_BLOCKS[info.type] : undefined;
    if (kept) {
      // Blocks run along rows (32 values in 34 or 18 bytes, 256 in 144), so the rope permutation moves
      // whole rows of blocks.
      const rowBytes = (shape[1] / GGML_TYPES[info.type].blockSize) * kept.blockBytes;
      native.setTensor(name, unpermute(gguf.readBytes(ggufName), rowBytes), kept.storeAs);
    } else {
      native.setTensor(name, unpermute(gguf.readFloat32(ggufName), shape[1]), options.dtype);
    }
  }
  for (const tensor of gguf.tensors) {
    if (!used.has(tensor.name))
      throw new CheckpointError("E_ARGUMENT", `pillow's ${config.architecture} has no place for this tensor`, {
        file,
        tensor: tensor.name,
      });
  }
  return new Model(config, native, tokenizer, path.resolve(file), options.dtype);
}
