// Writes a small random-weight LLaMA model folder in HF format with a byte-level tokenizer
// (256 byte tokens + <s> + </s> + <pad>, vocab 259): the starting point for pretraining the demo's tiny
// model, and a fixture for tests and benchmarks.
import fs from "node:fs";
import path from "node:path";
import { Random } from "./random.js";
import { type WritableTensor, writeSafetensors } from "./safetensors.js";
import { writeFileAtomically } from "./write-file-atomically.js";

export type TinyModelOptions = {
  hiddenSize?: number;
  intermediateSize?: number;
  numLayers?: number;
  numHeads?: number;
  numKeyValueHeads?: number;
  maxPositionEmbeddings?: number;
  ropeTheta?: number;
  tieWordEmbeddings?: boolean;
  /** Extra vocabulary beyond the byte tokenizer's 259 (for benchmarks of bigger vocabularies). */
  vocabSize?: number;
  seed?: number;
  /** Also write tokenizer.json / tokenizer_config.json (default true). */
  tokenizer?: boolean;
  dtype?: "F32" | "BF16";
  /** Standard deviation of the random weights (HF's initializer_range). Default 0.02. */
  initStd?: number;
};

export const BYTE_VOCAB_SIZE = 259;
export const BYTE_BOS_ID = 256;
export const BYTE_EOS_ID = 257;
export const BYTE_PAD_ID = 258;

/** GPT-2's byte ↔ printable-character table (so every byte is one visible vocabulary entry). */
function byteToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const table: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++)
    table[b] = printable.includes(b) ? String.fromCharCode(b) : String.fromCharCode(256 + extra++);
  return table;
}

/** tokenizer.json of a byte-level BPE with no merges: one token per UTF-8 byte, BOS prepended. */
export function byteTokenizerJson(): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  byteToUnicode().forEach((character, index) => {
    vocab[character] = index;
  });
  const special = (id: number, content: string) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [special(BYTE_BOS_ID, "<s>"), special(BYTE_EOS_ID, "</s>"), special(BYTE_PAD_ID, "<pad>")],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: "<s>", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: { "<s>": { id: "<s>", ids: [BYTE_BOS_ID], tokens: ["<s>"] } },
    },
    decoder: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: true,
      vocab,
      merges: [],
    },
  };
}

function writeJson(file: string, value: unknown): void {
  const bytes = Buffer.from(`${JSON.stringify(value, null, 2)}\n`, "utf8");
  writeFileAtomically(file, bytes);
}

/** Writes config.json, model.safetensors and (by default) the byte tokenizer into dir. */
export function createTinyModel(dir: string, options: TinyModelOptions = {}): void {
  const hidden = options.hiddenSize ?? 64;
  const intermediate = options.intermediateSize ?? 4 * hidden;
  const layers = options.numLayers ?? 2;
  const heads = options.numHeads ?? 4;
  const kvHeads = options.numKeyValueHeads ?? heads;
  const vocab = Math.max(options.vocabSize ?? BYTE_VOCAB_SIZE, BYTE_VOCAB_SIZE);
  const headDim = hidden / heads;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0)
    throw new RangeError(`hiddenSize ${hidden} / numHeads ${heads} must be an even integer`);
  const tie = options.tieWordEmbeddings ?? true;
  const dtype = options.dtype ?? "F32";
  const random = new Random(options.seed ?? 0);
  const std = options.initStd ?? 0.02;
  // N(0, std²) as HF's initializer_range, via Box–Muller.
  const normal = (count: number, std: number): Float32Array => {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i += 2) {
      const u = Math.max(random.next(), 1e-12);
      const v = random.next();
      const r = Math.sqrt(-2 * Math.log(u)) * std;
      out[i] = r * Math.cos(2 * Math.PI * v);
      if (i + 1 < count) out[i + 1] = r * Math.sin(2 * Math.PI * v);
    }
    return out;
  };
  const ones = (count: number) => new Float32Array(count).fill(1);
  const tensors: Record<string, WritableTensor> = {};
  const add = (name: string, shape: number[], data: Float32Array) => {
    tensors[name] = { dtype: shape.length === 2 ? dtype : "F32", shape, data };
  };
  add("model.embed_tokens.weight", [vocab, hidden], normal(vocab * hidden, std));
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}.`;
    add(`${p}input_layernorm.weight`, [hidden], ones(hidden));
    add(`${p}post_attention_layernorm.weight`, [hidden], ones(hidden));
    add(`${p}self_attn.q_proj.weight`, [heads * headDim, hidden], normal(heads * headDim * hidden, std));
    add(`${p}self_attn.k_proj.weight`, [kvHeads * headDim, hidden], normal(kvHeads * headDim * hidden, std));
    add(`${p}self_attn.v_proj.weight`, [kvHeads * headDim, hidden], normal(kvHeads * headDim * hidden, std));
    add(`${p}self_attn.o_proj.weight`, [hidden, heads * headDim], normal(hidden * heads * headDim, std));
    add(`${p}mlp.gate_proj.weight`, [intermediate, hidden], normal(intermediate * hidden, std));
    add(`${p}mlp.up_proj.weight`, [intermediate, hidden], normal(intermediate * hidden, std));
    add(`${p}mlp.down_proj.weight`, [hidden, intermediate], normal(hidden * intermediate, std));
  }
  add("model.norm.weight", [hidden], ones(hidden));
  if (!tie) add("lm_head.weight", [vocab, hidden], normal(vocab * hidden, std));
  fs.mkdirSync(dir, { recursive: true });
  writeSafetensors(path.join(dir, "model.safetensors"), tensors, { format: "pt" });
  writeJson(path.join(dir, "config.json"), {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    vocab_size: vocab,
    hidden_size: hidden,
    intermediate_size: intermediate,
    num_hidden_layers: layers,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    head_dim: headDim,
    hidden_act: "silu",
    max_position_embeddings: options.maxPositionEmbeddings ?? 512,
    rms_norm_eps: 1e-5,
    rope_theta: options.ropeTheta ?? 10000,
    rope_scaling: null,
    tie_word_embeddings: tie,
    attention_bias: false,
    bos_token_id: BYTE_BOS_ID,
    eos_token_id: BYTE_EOS_ID,
    pad_token_id: BYTE_PAD_ID,
    torch_dtype: dtype === "BF16" ? "bfloat16" : "float32",
  });
  if (options.tokenizer ?? true) {
    writeJson(path.join(dir, "tokenizer.json"), byteTokenizerJson());
    writeJson(path.join(dir, "tokenizer_config.json"), {
      bos_token: "<s>",
      eos_token: "</s>",
      pad_token: "<pad>",
      add_bos_token: true,
      clean_up_tokenization_spaces: false,
      model_max_length: options.maxPositionEmbeddings ?? 512,
      tokenizer_class: "PreTrainedTokenizerFast",
    });
  }
}
