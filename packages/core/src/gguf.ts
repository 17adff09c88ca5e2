// GGUF export, so llama.cpp and Ollama can run what pillow trains: the model (HF LLaMA-family
// checkpoint → llama.cpp tensor names, rope layout and metadata) and a LoRA adapter (PEFT tensors →
// llama.cpp's `blk.N.<op>.weight.lora_a/lora_b`). Tensors are streamed one at a time, so exporting
// never holds more than one tensor in memory.

import fs from "node:fs";
import path from "node:path";
import { type ModelConfig, readModelConfig } from "./config.js";
import { CheckpointError, ConfigError } from "./errors.js";
import { float32ToFloat16Bits } from "./float16.js";
import {
  alignUp,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VERSION,
  GgmlType,
  type GgmlTypeCode,
  GgufTokenType,
  type GgufValue,
  GgufValueType,
  ggmlTensorBytes,
  SCALAR_TYPE_CODES,
} from "./gguf-format.js";
import {
  ADAPTER_WEIGHTS_FILE,
  type LinearModule,
  type LoraConfig,
  loraScale,
  parsePeftTensorName,
  readAdapterConfig,
} from "./peft.js";
import { quantizeQ4_K, SUPER_BLOCK_SIZE } from "./k-quant-blocks.js";
import { QUANTIZED_BLOCK_SIZE, quantizeQ4_0, quantizeQ8_0 } from "./quantized-blocks.js";
import { SafetensorsCheckpoint } from "./safetensors.js";
import { writeAll, writeFileAtomically } from "./write-file-atomically.js";

/** Anything that lists tensors and reads them as f32 (a SafetensorsCheckpoint does). */
export type TensorSource = {
  names(): string[];
  info(name: string): { shape: number[] };
  readFloat32(name: string): Float32Array;
};
export type TensorRecord = Record<string, { shape: number[]; data: Float32Array }>;

function asSource(tensors: TensorSource | TensorRecord): TensorSource {
  if (typeof (tensors as TensorSource).readFloat32 === "function") return tensors as TensorSource;
  const record = tensors as TensorRecord;
  return {
    names: () => Object.keys(record),
    info: (name) => record[name],
    readFloat32: (name) => record[name].data,
  };
}

/**
 * HF keeps the two rotary halves of a head as its first and second half of rows; llama.cpp's
 * "normal" rope rotates adjacent pairs. Reordering rows (heads, 2, half, in) → (heads, half, 2, in)
 * makes llama.cpp compute the same attention scores. Also applies to a LoRA B matrix (its rows are
 * the projection's outputs).
 */
export function permuteRowsForGgufRope(data: Float32Array, rows: number, columns: number, heads: number): Float32Array {
  if (rows % heads !== 0 || (rows / heads) % 2 !== 0 || data.length !== rows * columns) {
    throw new RangeError(
      `cannot permute a [${rows}, ${columns}] matrix (${data.length} values) into ${heads} rotary heads`,
    );
  }
  const headDim = rows / heads;
  const half = headDim / 2;
  const output = new Float32Array(data.length);
  for (let head = 0; head < heads; head++) {
    for (let pair = 0; pair < half; pair++) {
      for (let side = 0; side < 2; side++) {
        const source = (head * headDim + side * half + pair) * columns;
        const target = (head * headDim + 2 * pair + side) * columns;
        output.set(data.subarray(source, source + columns), target);
      }
    }
  }
  return output;
}

/** The inverse of permuteRowsForGgufRope: llama.cpp's q/k rows (heads, half, 2, in) back to HF's (heads, 2, half, in). */
export function unpermuteRowsFromGgufRope<Rows extends Float32Array | Uint8Array>(
  data: Rows,
  rows: number,
  columns: number,
  heads: number,
): Rows {
  if (rows % heads !== 0 || (rows / heads) % 2 !== 0 || data.length !== rows * columns) {
    throw new RangeError(
      `cannot unpermute a [${rows}, ${columns}] matrix (${data.length} values) from ${heads} rotary heads`,
    );
  }
  const headDim = rows / heads;
  const half = headDim / 2;
  const output = (data instanceof Float32Array ? new Float32Array(data.length) : new Uint8Array(data.length)) as Rows;
  for (let head = 0; head < heads; head++) {
    for (let pair = 0; pair < half; pair++) {
      for (let side = 0; side < 2; side++) {
        const source = (head * headDim + 2 * pair + side) * columns;
        const target = (head * headDim + side * half + pair) * columns;
        output.set(data.subarray(source, source + columns) as never, target);
      }
    }
  }
  return output;
}

/** llama.cpp's per-frequency divisors for Llama-3 rope scaling (its `rope_freqs.weight`). */
export function llama3RopeFactors(config: ModelConfig): Float32Array {
  const scaling = config.ropeScaling;
  if (scaling?.type !== "llama3") throw new RangeError("llama3RopeFactors needs llama3 rope scaling");
  const half = config.headDim / 2;
  const factors = new Float32Array(half);
  const lowFrequencyWavelength = scaling.originalMaxPositionEmbeddings / scaling.lowFreqFactor;
  const highFrequencyWavelength = scaling.originalMaxPositionEmbeddings / scaling.highFreqFactor;
  for (let i = 0; i < half; i++) {
    const frequency = 1 / config.ropeTheta ** ((2 * i) / config.headDim);
    const wavelength = (2 * Math.PI) / frequency;
    if (wavelength < highFrequencyWavelength) factors[i] = 1;
    else if (wavelength > lowFrequencyWavelength) factors[i] = scaling.factor;
    else {
      const smooth =
        (scaling.originalMaxPositionEmbeddings / wavelength - scaling.lowFreqFactor) /
        (scaling.highFreqFactor - scaling.lowFreqFactor);
      factors[i] = 1 / ((1 - smooth) / scaling.factor + smooth);
    }
  }
  return factors;
}

const MODULE_TO_GGUF: Record<LinearModule, string> = {
  q_proj: "attn_q",
  k_proj: "attn_k",
  v_proj: "attn_v",
  o_proj: "attn_output",
  gate_proj: "ffn_gate",
  up_proj: "ffn_up",
  down_proj: "ffn_down",
};

function ggufArchitecture(config: ModelConfig): "llama" | "qwen2" {
  // llama.cpp runs Mistral as `llama`; Qwen2 has its own architecture (qkv biases, NeoX rope).
  return config.architecture === "Qwen2ForCausalLM" ? "qwen2" : "llama";
}

/** Whether q/k rows need llama.cpp's rope permutation (llama's "normal" rope, not Qwen2's NeoX rope). */
function needsRopePermutation(config: ModelConfig): boolean {
  return ggufArchitecture(config) === "llama";
}

/** One tensor of a GGUF file to write: its ggml name, PyTorch-order shape, ggml type and values. */
export type PlannedTensor = {
  name: string;
  /** PyTorch order (outermost first). */
  shape: number[];
  /** A ggml type code (GGML_TYPES): pillow encodes F32, F16, Q8_0, Q4_0 and Q4_K; other types come as bytes. */
  type: number;
  /** The values (encoded into `type` on write), or the tensor's bytes already in `type`. */
  produce: () => Float32Array | Uint8Array;
};

/**
 * The GGUF name of an HF tensor; null for tensors llama.cpp recomputes (rotary inv_freq), undefined
 * for tensors it has no place for.
 */
export function ggufTensorName(hfName: string): string | null | undefined {
  if (hfName.endsWith("rotary_emb.inv_freq")) return null;
  const fixed: Record<string, string> = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
  };
  if (fixed[hfName]) return fixed[hfName];
  const match = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(hfName);
  if (!match) return undefined;
  const [, layer, inner, kind] = match;
  const norms: Record<string, string> = { input_layernorm: "attn_norm", post_attention_layernorm: "ffn_norm" };
  if (norms[inner]) return `blk.${layer}.${norms[inner]}.${kind}`;
  const module = /^(?:self_attn|mlp)\.(\w+)$/.exec(inner)?.[1] as LinearModule | undefined;
  if (module && MODULE_TO_GGUF[module]) return `blk.${layer}.${MODULE_TO_GGUF[module]}.${kind}`;
  return undefined;
}

class ByteWriter {
  private buffer = Buffer.alloc(1 << 16);
  length = 0;
  private ensure(extra: number): void {
    if (this.length + extra <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.length + extra) size *= 2;
    const grown = Buffer.alloc(size);
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }
  u8(value: number): void {
    this.ensure(1);
    this.buffer.writeUInt8(value, this.length);
    this.length += 1;
  }
  u32(value: number): void {
    this.ensure(4);
    this.buffer.writeUInt32LE(value, this.length);
    this.length += 4;
  }
  u64(value: number | bigint): void {
    this.ensure(8);
    this.buffer.writeBigUInt64LE(BigInt(value), this.length);
    this.length += 8;
  }
  string(text: string): void {
    const bytes = Buffer.from(text, "utf8");
    this.u64(bytes.length);
    this.ensure(bytes.length);
    bytes.copy(this.buffer, this.length);
    this.length += bytes.length;
  }
  scalar(type: string, value: number | bigint | boolean | string): void {
    this.ensure(8);
    const at = this.length;
    switch (type) {
      case "u8":
        this.buffer.writeUInt8(value as number, at);
        this.length += 1;
        return;
      case "i8":
        this.buffer.writeInt8(value as number, at);
        this.length += 1;
        return;
      case "u16":
        this.buffer.writeUInt16LE(value as number, at);
        this.length += 2;
        return;
      case "i16":
        this.buffer.writeInt16LE(value as number, at);
        this.length += 2;
        return;
      case "u32":
        this.buffer.writeUInt32LE(value as number, at);
        this.length += 4;
        return;
      case "i32":
        this.buffer.writeInt32LE(value as number, at);
        this.length += 4;
        return;
      case "f32":
        this.buffer.writeFloatLE(value as number, at);
        this.length += 4;
        return;
      case "f64":
        this.buffer.writeDoubleLE(value as number, at);
        this.length += 8;
        return;
      case "u64":
        this.buffer.writeBigUInt64LE(BigInt(value as number | bigint), at);
        this.length += 8;
        return;
      case "i64":
        this.buffer.writeBigInt64LE(BigInt(value as number | bigint), at);
        this.length += 8;
        return;
      case "bool":
        this.buffer.writeUInt8(value ? 1 : 0, at);
        this.length += 1;
        return;
      case "string":
        this.string(value as string);
        return;
      default:
        throw new RangeError(`unknown GGUF value type ${type}`);
    }
  }
  value(value: GgufValue): void {
    if (value.type === "array") {
      this.u32(GgufValueType.ARRAY);
      this.u32(SCALAR_TYPE_CODES[value.itemType]);
      this.u64(value.value.length);
      for (let i = 0; i < value.value.length; i++) this.scalar(value.itemType, value.value[i]);
      return;
    }
    this.u32(SCALAR_TYPE_CODES[value.type]);
    this.scalar(value.type, value.value);
  }
  bytes(): Buffer {
    return this.buffer.subarray(0, this.length);
  }
}

/** A tensor's values in its ggml type's bytes (raw bytes pass through: types pillow does not quantize to). */
function encodeTensor(type: number, values: Float32Array | Uint8Array): ArrayBufferView {
  if (values instanceof Uint8Array) return values;
  switch (type) {
    case GgmlType.F32:
      return values;
    case GgmlType.F16:
      return float32ToFloat16Bits(values);
    case GgmlType.Q8_0:
      return quantizeQ8_0(values);
    case GgmlType.Q4_0:
      return quantizeQ4_0(values);
    case GgmlType.Q4_K:
      return quantizeQ4_K(values);
    default:
      throw new RangeError(`pillow does not write ggml type ${type}`);
  }
}

/**
 * Writes the GGUF container: header, metadata, tensor infos, then each tensor's data, aligned. The
 * model and adapter writers build on it; tools and tests that need other metadata (another tokenizer
 * model, say) call it directly.
 */
export function writeGgufFile(file: string, metadata: [string, GgufValue][], tensors: PlannedTensor[]): void {
  const header = new ByteWriter();
  header.u32(GGUF_MAGIC);
  header.u32(GGUF_VERSION);
  header.u64(tensors.length);
  header.u64(metadata.length);
  for (const [key, value] of metadata) {
    header.string(key);
    header.value(value);
  }
  let offset = 0;
  const sizes: number[] = [];
  for (const tensor of tensors) {
    header.string(tensor.name);
    header.u32(tensor.shape.length);
    // ggml lists dimensions innermost first.
    for (const dimension of [...tensor.shape].reverse()) header.u64(dimension);
    header.u32(tensor.type);
    header.u64(offset);
    const size = ggmlTensorBytes(
      tensor.type,
      tensor.shape.reduce((product, d) => product * d, 1),
    );
    sizes.push(size);
    offset = alignUp(offset + size, GGUF_DEFAULT_ALIGNMENT);
  }
  const headerBytes = header.bytes();
  writeFileAtomically(file, (fd) => {
    writeAll(fd, headerBytes);
    writeAll(fd, new Uint8Array(alignUp(headerBytes.length, GGUF_DEFAULT_ALIGNMENT) - headerBytes.length));
    tensors.forEach((tensor, index) => {
      const values = tensor.produce();
      // Values, or (raw bytes) the tensor's size in bytes.
      const expected =
        values instanceof Uint8Array ? sizes[index] : tensor.shape.reduce((product, d) => product * d, 1);
      if (values.length !== expected) {
        throw new CheckpointError(
          "E_SHAPE",
          `has ${values.length} values, shape [${tensor.shape.join(", ")}] needs ${expected}`,
          { file, tensor: tensor.name },
        );
      }
      const data = encodeTensor(tensor.type, values);
      writeAll(fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      writeAll(fd, new Uint8Array(alignUp(sizes[index], GGUF_DEFAULT_ALIGNMENT) - sizes[index]));
    });
  });
}

function architectureMetadata(config: ModelConfig): [string, GgufValue][] {
  const arch = ggufArchitecture(config);
  const u32 = (value: number): GgufValue => ({ type: "u32", value });
  const entries: [string, GgufValue][] = [
    ["general.architecture", { type: "string", value: arch }],
    [`${arch}.context_length`, u32(config.maxPositionEmbeddings)],
    [`${arch}.embedding_length`, u32(config.hiddenSize)],
    [`${arch}.block_count`, u32(config.numLayers)],
    [`${arch}.feed_forward_length`, u32(config.intermediateSize)],
    [`${arch}.rope.dimension_count`, u32(config.headDim)],
    [`${arch}.attention.head_count`, u32(config.numHeads)],
    [`${arch}.attention.head_count_kv`, u32(config.numKeyValueHeads)],
    [`${arch}.attention.key_length`, u32(config.headDim)],
    [`${arch}.attention.value_length`, u32(config.headDim)],
    [`${arch}.attention.layer_norm_rms_epsilon`, { type: "f32", value: config.rmsNormEps }],
    [`${arch}.rope.freq_base`, { type: "f32", value: config.ropeTheta }],
    [`${arch}.vocab_size`, u32(config.vocabSize)],
  ];
  if (config.ropeScaling?.type === "linear") {
    entries.push([`${arch}.rope.scaling.type`, { type: "string", value: "linear" }]);
    entries.push([`${arch}.rope.scaling.factor`, { type: "f32", value: config.ropeScaling.factor }]);
  }
  return entries;
}

type TokenizerJson = Record<string, unknown>;

function findPreTokenizers(node: unknown, type: string): Record<string, unknown>[] {
  if (typeof node !== "object" || node === null) return [];
  const record = node as Record<string, unknown>;
  const found = record.type === type ? [record] : [];
  const children = Array.isArray(record.pretokenizers) ? record.pretokenizers : [];
  return found.concat(children.flatMap((child) => findPreTokenizers(child, type)));
}

const LLAMA3_PATTERN_START = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}";
const QWEN2_PATTERN_START = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|";

/** llama.cpp's name for the tokenizer's pre-tokenization regex. */
function detectPreTokenizer(tokenizerJson: TokenizerJson, config: ModelConfig): string {
  const pattern = findPreTokenizers(tokenizerJson.pre_tokenizer, "Split")
    .map((split) => (split.pattern as { Regex?: string } | undefined)?.Regex)
    .find((regex) => typeof regex === "string");
  if (pattern?.startsWith(LLAMA3_PATTERN_START)) return "llama-bpe";
  if (pattern?.startsWith(QWEN2_PATTERN_START) || config.architecture === "Qwen2ForCausalLM") return "qwen2";
  if (
    pattern === undefined &&
    findPreTokenizers(tokenizerJson.pre_tokenizer, "ByteLevel").some((byteLevel) => byteLevel.use_regex !== false)
  )
    return "gpt-2";
  return "default";
}

function tokenizerMetadata(
  file: string,
  tokenizerJson: TokenizerJson,
  tokenizerConfig: Record<string, unknown>,
  config: ModelConfig,
  preOverride: string | undefined,
): [string, GgufValue][] {
  const model = tokenizerJson.model as Record<string, unknown> | undefined;
  const isByteLevel = findPreTokenizers(tokenizerJson.pre_tokenizer, "ByteLevel").length > 0;
  if (model?.type !== "BPE" || !isByteLevel || typeof model.vocab !== "object" || model.vocab === null) {
    throw new CheckpointError(
      "E_ARGUMENT",
      "only byte-level BPE tokenizers (GPT-2 / Llama-3 / Qwen2 style) can be exported to GGUF",
      { file, tensor: "tokenizer.json" },
    );
  }
  const tokens: string[] = new Array(config.vocabSize);
  const types = new Int32Array(config.vocabSize).fill(GgufTokenType.NORMAL);
  const place = (content: string, id: number, type: number) => {
    if (!Number.isInteger(id) || id < 0 || id >= config.vocabSize) {
      throw new CheckpointError(
        "E_ARGUMENT",
        `token ${JSON.stringify(content)} has id ${id}, outside the model's vocab_size ${config.vocabSize}`,
        { file, tensor: "tokenizer.json" },
      );
    }
    tokens[id] = content;
    types[id] = type;
  };
  for (const [content, id] of Object.entries(model.vocab as Record<string, number>))
    place(content, id, GgufTokenType.NORMAL);
  const added = Array.isArray(tokenizerJson.added_tokens)
    ? (tokenizerJson.added_tokens as { id: number; content: string; special?: boolean }[])
    : [];
  for (const token of added)
    place(token.content, token.id, token.special ? GgufTokenType.CONTROL : GgufTokenType.USER_DEFINED);
  for (let id = 0; id < tokens.length; id++) {
    if (tokens[id] === undefined) {
      // Embedding rows past the tokenizer's vocabulary (padding to a round size).
      tokens[id] = `[PAD${id}]`;
      types[id] = GgufTokenType.UNUSED;
    }
  }
  const merges = (Array.isArray(model.merges) ? model.merges : []).map((merge: unknown) =>
    Array.isArray(merge) ? merge.join(" ") : String(merge),
  );

  const idOf = (value: unknown): number | undefined => {
    const content = typeof value === "string" ? value : (value as { content?: string } | undefined)?.content;
    if (content === undefined) return undefined;
    const index = tokens.indexOf(content);
    return index >= 0 ? index : undefined;
  };
  const bos = idOf(tokenizerConfig.bos_token) ?? config.bosTokenId ?? undefined;
  const eos = idOf(tokenizerConfig.eos_token) ?? config.eosTokenIds[0];
  const postProcessor = JSON.stringify(tokenizerJson.post_processor ?? null);
  const addBos =
    typeof tokenizerConfig.add_bos_token === "boolean"
      ? tokenizerConfig.add_bos_token
      : bos !== undefined && postProcessor.includes(JSON.stringify(tokens[bos]));

  const entries: [string, GgufValue][] = [
    ["tokenizer.ggml.model", { type: "string", value: "gpt2" }],
    ["tokenizer.ggml.pre", { type: "string", value: preOverride ?? detectPreTokenizer(tokenizerJson, config) }],
    ["tokenizer.ggml.tokens", { type: "array", itemType: "string", value: tokens }],
    ["tokenizer.ggml.token_type", { type: "array", itemType: "i32", value: types }],
    ["tokenizer.ggml.merges", { type: "array", itemType: "string", value: merges }],
  ];
  if (bos !== undefined) entries.push(["tokenizer.ggml.bos_token_id", { type: "u32", value: bos }]);
  if (eos !== undefined) entries.push(["tokenizer.ggml.eos_token_id", { type: "u32", value: eos }]);
  entries.push(["tokenizer.ggml.add_bos_token", { type: "bool", value: addBos }]);
  if (typeof tokenizerConfig.chat_template === "string")
    entries.push(["tokenizer.chat_template", { type: "string", value: tokenizerConfig.chat_template }]);
  return entries;
}

export type GgufModelDtype = "f32" | "f16" | "q8_0" | "q4_0" | "q4_k";

const MATRIX_TYPES: Record<GgufModelDtype, GgmlTypeCode> = {
  f32: GgmlType.F32,
  f16: GgmlType.F16,
  q8_0: GgmlType.Q8_0,
  q4_0: GgmlType.Q4_0,
  q4_k: GgmlType.Q4_K,
};
/**
 * llama.cpp's llama_ftype for general.file_type: what most of the file's matrices are (14 is
 * MOSTLY_Q4_K_S: every matrix Q4_K, none raised to Q6_K as Q4_K_M does).
 */
const FILE_TYPES: Record<GgufModelDtype, number> = { f32: 0, f16: 1, q4_0: 2, q8_0: 7, q4_k: 14 };

/**
 * The ggml type of a matrix whose rows hold `columns` values when the file's matrices are
 * `matrixType`: a block type needs whole blocks per row. A Q4_K matrix whose rows are not whole
 * 256-value super-blocks becomes Q4_0 (the same 4.5 bits per weight; llama-quantize picks Q5_0,
 * which pillow does not write), and a Q8_0 / Q4_0 one whose rows are not whole 32-value blocks F16,
 * as llama-quantize does.
 */
function matrixTypeFor(matrixType: GgmlTypeCode, columns: number): GgmlTypeCode {
  if (matrixType === GgmlType.Q4_K && columns % SUPER_BLOCK_SIZE !== 0) return matrixTypeFor(GgmlType.Q4_0, columns);
  if ((matrixType === GgmlType.Q8_0 || matrixType === GgmlType.Q4_0) && columns % QUANTIZED_BLOCK_SIZE !== 0)
    return GgmlType.F16;
  return matrixType;
}

export type GgufModelExport = {
  config: ModelConfig;
  tokenizerJson: object;
  /** tokenizer_config.json: bos/eos tokens, add_bos_token, chat_template. */
  tokenizerConfig?: object;
  /** HF-named tensors, e.g. a SafetensorsCheckpoint. */
  tensors: TensorSource | TensorRecord;
  /**
   * Matrices as F32 (default), F16, or llama.cpp's Q8_0 / Q4_0 / Q4_K blocks (a matrix whose rows
   * are not whole blocks falls back: Q4_K to Q4_0 when its rows are whole 32-value blocks, and
   * Q8_0 / Q4_0 to F16, as llama-quantize does); vectors (norms, biases, rope factors) always F32.
   */
  dtype?: GgufModelDtype;
  name?: string;
  /** llama.cpp pre-tokenizer name (tokenizer.ggml.pre); detected from tokenizer.json when absent. */
  tokenizerPre?: string;
};

/** Writes a model GGUF llama.cpp can load. Throws CheckpointError naming the tensor on bad input. */
export function writeGguf(file: string, input: GgufModelExport): void {
  const { config } = input;
  const source = asSource(input.tensors);
  const dtype = input.dtype ?? "f32";
  if (!(dtype in MATRIX_TYPES))
    throw new CheckpointError(
      "E_ARGUMENT",
      `dtype must be one of ${Object.keys(MATRIX_TYPES).join(", ")}, got ${String(dtype)}`,
      { file },
    );
  const matrixType = MATRIX_TYPES[dtype];
  const isQuantized = matrixType !== GgmlType.F32 && matrixType !== GgmlType.F16;
  const permute = needsRopePermutation(config);
  const planned: PlannedTensor[] = [];
  const names = source.names();
  for (const hfName of names) {
    const name = ggufTensorName(hfName);
    if (name === null) continue;
    if (name === undefined)
      throw new CheckpointError("E_ARGUMENT", "no GGUF counterpart for this tensor", { file, tensor: hfName });
    if (name === "output.weight" && config.tieWordEmbeddings) continue; // llama.cpp reuses token_embd
    const shape = [...source.info(hfName).shape];
    let produce = () => source.readFloat32(hfName);
    const projection = /\.attn_(q|k)\.weight$/.exec(name)?.[1];
    if (permute && projection) {
      const heads = projection === "q" ? config.numHeads : config.numKeyValueHeads;
      produce = () => permuteRowsForGgufRope(source.readFloat32(hfName), shape[0], shape[1], heads);
    }
    const type = shape.length >= 2 ? matrixTypeFor(matrixType, shape[shape.length - 1]) : GgmlType.F32;
    planned.push({ name, shape, type, produce });
  }
  for (const required of ["token_embd.weight", "output_norm.weight"]) {
    if (!planned.some((tensor) => tensor.name === required)) {
      throw new CheckpointError("E_MISSING_TENSOR", "the checkpoint lacks it", {
        file,
        tensor: required === "token_embd.weight" ? "model.embed_tokens.weight" : "model.norm.weight",
      });
    }
  }
  if (config.ropeScaling?.type === "llama3") {
    const factors = llama3RopeFactors(config);
    planned.push({ name: "rope_freqs.weight", shape: [factors.length], type: GgmlType.F32, produce: () => factors });
  }
  const metadata: [string, GgufValue][] = [
    ...architectureMetadata(config),
    ["general.type", { type: "string", value: "model" }],
    ["general.name", { type: "string", value: input.name ?? "pillow-export" }],
    ["general.file_type", { type: "u32", value: FILE_TYPES[dtype] }],
    ["general.alignment", { type: "u32", value: GGUF_DEFAULT_ALIGNMENT }],
    ...(isQuantized ? ([["general.quantization_version", { type: "u32", value: 2 }]] as [string, GgufValue][]) : []),
    ...tokenizerMetadata(
      file,
      input.tokenizerJson as TokenizerJson,
      (input.tokenizerConfig ?? {}) as Record<string, unknown>,
      config,
      input.tokenizerPre,
    ),
  ];
  writeGgufFile(file, metadata, planned);
}

export type GgufLoraExport = {
  config: ModelConfig;
  lora: LoraConfig;
  /** PEFT-named LoRA factors (lora_A [r, in], lora_B [out, r]), e.g. adapter_model.safetensors. */
  tensors: TensorSource | TensorRecord;
  dtype?: "f32" | "f16";
  name?: string;
};

/** Writes a LoRA adapter GGUF for llama.cpp (`--lora FILE`), from PEFT tensors. */
export function writeLoraGguf(file: string, input: GgufLoraExport): void {
  const { config, lora } = input;
  const source = asSource(input.tensors);
  const type = input.dtype === "f16" ? GgmlType.F16 : GgmlType.F32;
  const permute = needsRopePermutation(config);
  const planned: PlannedTensor[] = [];
  for (const peftName of source.names()) {
    const parsed = parsePeftTensorName(peftName);
    if (!parsed)
      throw new CheckpointError("E_ARGUMENT", "not a PEFT LoRA tensor name of a linear module", {
        file,
        tensor: peftName,
      });
    const shape = [...source.info(peftName).shape];
    if (shape.length !== 2)
      throw new CheckpointError("E_SHAPE", `LoRA factors are matrices, got shape [${shape.join(", ")}]`, {
        file,
        tensor: peftName,
      });
    const name = `blk.${parsed.layer}.${MODULE_TO_GGUF[parsed.module]}.weight.lora_${parsed.part === "A" ? "a" : "b"}`;
    let produce = () => source.readFloat32(peftName);
    // W' = P·W for q/k, and W + s·B·A becomes P·W + s·(P·B)·A: only B's rows move.
    if (permute && parsed.part === "B" && (parsed.module === "q_proj" || parsed.module === "k_proj")) {
      const heads = parsed.module === "q_proj" ? config.numHeads : config.numKeyValueHeads;
      produce = () => permuteRowsForGgufRope(source.readFloat32(peftName), shape[0], shape[1], heads);
    }
    planned.push({ name, shape, type, produce });
  }
  if (planned.length === 0) throw new CheckpointError("E_ARGUMENT", "the adapter has no LoRA tensors", { file });
  // llama.cpp scales by alpha / r (r read from lora_a); rsLoRA's alpha/√r is expressed through alpha.
  const alpha = loraScale(lora) * lora.r;
  const metadata: [string, GgufValue][] = [
    ["general.architecture", { type: "string", value: ggufArchitecture(config) }],
    ["general.type", { type: "string", value: "adapter" }],
    ["general.name", { type: "string", value: input.name ?? "pillow-adapter" }],
    ["general.file_type", { type: "u32", value: type === GgmlType.F16 ? 1 : 0 }],
    ["general.alignment", { type: "u32", value: GGUF_DEFAULT_ALIGNMENT }],
    ["adapter.type", { type: "string", value: "lora" }],
    ["adapter.lora.alpha", { type: "f32", value: alpha }],
  ];
  writeGgufFile(file, metadata, planned);
}

export type GgufExportSummary = { file: string; tensors: number; bytes: number };

function readJsonFile(file: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(
      code === "ENOENT" ? "E_FILE_NOT_FOUND" : "E_JSON",
      code === "ENOENT" ? "not found" : `not valid JSON (${(error as Error).message})`,
      { file },
    );
  }
  if (typeof json !== "object" || json === null || Array.isArray(json))
    throw new ConfigError("E_JSON", "not a JSON object", { file });
  return json as Record<string, unknown>;
}

/**
 * Exports an HF model folder (config.json, safetensors, tokenizer.json [+ tokenizer_config.json,
 * chat_template.jinja]) to one GGUF file; what `pillow export gguf` calls.
 */
export function exportModelToGguf(
  modelDir: string,
  outFile: string,
  options: { dtype?: GgufModelDtype; name?: string; tokenizerDir?: string; tokenizerPre?: string } = {},
): GgufExportSummary {
  const config = readModelConfig(modelDir);
  const tokenizerDir = options.tokenizerDir ?? modelDir;
  const tokenizerFile = path.join(tokenizerDir, "tokenizer.json");
  if (!fs.existsSync(tokenizerFile)) {
    throw new ConfigError("E_FILE_NOT_FOUND", `no tokenizer.json in ${tokenizerDir} — pass --tokenizer`, {
      file: tokenizerFile,
    });
  }
  const tokenizerJson = readJsonFile(tokenizerFile);
  const configFile = path.join(tokenizerDir, "tokenizer_config.json");
  const tokenizerConfig = fs.existsSync(configFile) ? readJsonFile(configFile) : {};
  const templateFile = path.join(tokenizerDir, "chat_template.jinja");
  if (fs.existsSync(templateFile)) tokenizerConfig.chat_template = fs.readFileSync(templateFile, "utf8");
  const checkpoint = SafetensorsCheckpoint.open(modelDir);
  try {
    writeGguf(outFile, {
      config,
      tokenizerJson,
      tokenizerConfig,
      tensors: checkpoint,
      dtype: options.dtype,
      name: options.name ?? path.basename(path.resolve(modelDir)),
      tokenizerPre: options.tokenizerPre,
    });
  } finally {
    checkpoint.close();
  }
  return { file: outFile, tensors: readGgufTensorCount(outFile), bytes: fs.statSync(outFile).size };
}

/** Exports a PEFT adapter folder (adapter_config.json + adapter_model.safetensors) for the model in modelDir. */
export function exportAdapterToGguf(
  adapterDir: string,
  modelDir: string,
  outFile: string,
  options: { dtype?: "f32" | "f16"; name?: string } = {},
): GgufExportSummary {
  const config = readModelConfig(modelDir);
  const lora = readAdapterConfig(adapterDir);
  const checkpoint = SafetensorsCheckpoint.open(path.join(adapterDir, ADAPTER_WEIGHTS_FILE));
  try {
    writeLoraGguf(outFile, {
      config,
      lora,
      tensors: checkpoint,
      dtype: options.dtype,
      name: options.name ?? path.basename(path.resolve(adapterDir)),
    });
  } finally {
    checkpoint.close();
  }
  return { file: outFile, tensors: readGgufTensorCount(outFile), bytes: fs.statSync(outFile).size };
}

/** The tensor count from a GGUF header (bytes 8..16), without reading the rest. */
function readGgufTensorCount(file: string): number {
  const fd = fs.openSync(file, "r");
  try {
    const header = Buffer.alloc(16);
    fs.readSync(fd, header, 0, 16, 0);
    return Number(header.readBigUInt64LE(8));
  } finally {
    fs.closeSync(fd);
  }
}
