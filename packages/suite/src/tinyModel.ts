// The embedded tiny LLaMA model: its architecture, where the shipped checkpoint lives, and the files
// that make a checkpoint folder a complete HF model (config, generation config, tokenizer).
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promptStopStrings } from "@pillow/core";
import {
  bosTokenId,
  buildByteTokenizerJson,
  buildTokenizerConfigJson,
  byteTokenizerVocabSize,
  eosTokenId,
  padTokenId,
} from "./tokenizer.js";

/** The shipped checkpoint's folder (config.json, model.safetensors, tokenizer.json, ...). */
export const tinyModelDir: string = fileURLToPath(new URL("../model", import.meta.url));

export type TinyModelShape = {
  hiddenSize: number;
  layers: number;
  attentionHeads: number;
  keyValueHeads: number;
  intermediateSize: number;
};

/** Sized for 2 shared CPU cores: LoRA fine-tuning of one task takes seconds to a minute. */
export const tinyModelShape: TinyModelShape = {
  hiddenSize: 128,
  layers: 4,
  attentionHeads: 4,
  keyValueHeads: 2,
  intermediateSize: 352,
};

/** HF LlamaForCausalLM config.json for the tiny model. */
export function tinyModelConfig(shape: TinyModelShape = tinyModelShape): Record<string, unknown> {
  if (shape.hiddenSize % shape.attentionHeads !== 0 || shape.attentionHeads % shape.keyValueHeads !== 0) {
    throw new RangeError("tinyModelConfig: hiddenSize must divide by attentionHeads, attentionHeads by keyValueHeads");
  }
  return {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    hidden_size: shape.hiddenSize,
    intermediate_size: shape.intermediateSize,
    num_hidden_layers: shape.layers,
    num_attention_heads: shape.attentionHeads,
    num_key_value_heads: shape.keyValueHeads,
    head_dim: shape.hiddenSize / shape.attentionHeads,
    hidden_act: "silu",
    max_position_embeddings: 512,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    rope_scaling: null,
    attention_bias: false,
    mlp_bias: false,
    tie_word_embeddings: true,
    vocab_size: byteTokenizerVocabSize,
    bos_token_id: bosTokenId,
    eos_token_id: eosTokenId,
    pad_token_id: padTokenId,
    initializer_range: 0.02,
    torch_dtype: "float32",
  };
}

export function tinyGenerationConfig(): Record<string, unknown> {
  return {
    bos_token_id: bosTokenId,
    eos_token_id: eosTokenId,
    pad_token_id: padTokenId,
    do_sample: false,
    max_new_tokens: 32,
    stop_strings: promptStopStrings,
  };
}

/** Writes config.json, generation_config.json, tokenizer.json and tokenizer_config.json. */
export async function writeTinyModelAssets(directory: string, shape: TinyModelShape = tinyModelShape): Promise<void> {
  await mkdir(directory, { recursive: true });
  const files: [string, unknown][] = [
    ["config.json", tinyModelConfig(shape)],
    ["generation_config.json", tinyGenerationConfig()],
    ["tokenizer.json", buildByteTokenizerJson()],
    ["tokenizer_config.json", buildTokenizerConfigJson()],
  ];
  for (const [name, content] of files) {
    await writeFile(path.join(directory, name), `${JSON.stringify(content, null, 2)}\n`);
  }
}
