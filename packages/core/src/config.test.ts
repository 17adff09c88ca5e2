import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseModelConfig, readModelConfig, toHfConfigJson } from "./config.js";
import { ConfigError } from "./errors.js";

// Abbreviated copies of published config.json files (the fields pillow reads, as HF writes them).
const llama3 = {
  architectures: ["LlamaForCausalLM"],
  attention_bias: false,
  bos_token_id: 128000,
  eos_token_id: [128001, 128008, 128009],
  head_dim: 64,
  hidden_act: "silu",
  hidden_size: 2048,
  intermediate_size: 8192,
  max_position_embeddings: 131072,
  model_type: "llama",
  num_attention_heads: 32,
  num_hidden_layers: 16,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_scaling: {
    factor: 32.0,
    high_freq_factor: 4.0,
    low_freq_factor: 1.0,
    original_max_position_embeddings: 8192,
    rope_type: "llama3",
  },
  rope_theta: 500000.0,
  tie_word_embeddings: true,
  torch_dtype: "bfloat16",
  vocab_size: 128256,
};
const qwen2 = {
  architectures: ["Qwen2ForCausalLM"],
  bos_token_id: 151643,
  eos_token_id: 151645,
  hidden_act: "silu",
  hidden_size: 896,
  intermediate_size: 4864,
  max_position_embeddings: 32768,
  num_attention_heads: 14,
  num_hidden_layers: 24,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  sliding_window: 32768,
  use_sliding_window: false,
  tie_word_embeddings: true,
  torch_dtype: "bfloat16",
  vocab_size: 151936,
};
const mistral = {
  architectures: ["MistralForCausalLM"],
  hidden_size: 4096,
  intermediate_size: 14336,
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  sliding_window: 4096,
  vocab_size: 32000,
  bos_token_id: 1,
  eos_token_id: 2,
};

function expectConfigError(action: () => unknown, ...fragments: string[]): ConfigError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    for (const fragment of fragments) expect((error as Error).message).toContain(fragment);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("parseModelConfig", () => {
  it("normalises a Llama 3.2 config with llama3 rope scaling and GQA", () => {
    const config = parseModelConfig(llama3, "llama/config.json");
    expect(config).toMatchObject({
      architecture: "LlamaForCausalLM",
      hiddenSize: 2048,
      numLayers: 16,
      numHeads: 32,
      numKeyValueHeads: 8,
      headDim: 64,
      vocabSize: 128256,
      rmsNormEps: 1e-5,
      ropeTheta: 500000,
      ropeScaling: {
        type: "llama3",
        factor: 32,
        lowFreqFactor: 1,
        highFreqFactor: 4,
        originalMaxPositionEmbeddings: 8192,
      },
      tieWordEmbeddings: true,
      attentionBias: false,
      bosTokenId: 128000,
      eosTokenIds: [128001, 128008, 128009],
      torchDtype: "bfloat16",
    });
  });

  it("gives Qwen2 qkv bias and a single eos id as a list", () => {
    const config = parseModelConfig(qwen2, "qwen/config.json");
    expect(config.attentionBias).toBe(true);
    expect(config.headDim).toBe(64);
    expect(config.eosTokenIds).toEqual([151645]);
    expect(config.slidingWindow).toBeNull();
    expect(config.ropeScaling).toBeNull();
  });

  it("fills HF defaults for fields Mistral leaves out", () => {
    const config = parseModelConfig(mistral, "mistral/config.json");
    expect(config).toMatchObject({
      ropeTheta: 10000,
      headDim: 128,
      tieWordEmbeddings: false,
      slidingWindow: 4096,
      maxPositionEmbeddings: 2048,
      torchDtype: null,
    });
    const noKv = parseModelConfig({ ...mistral, num_key_value_heads: undefined }, "x");
    expect(noKv.numKeyValueHeads).toBe(32);
  });

  it("accepts linear rope scaling in the old `type` spelling", () => {
    expect(parseModelConfig({ ...mistral, rope_scaling: { type: "linear", factor: 2 } }, "x").ropeScaling).toEqual({
      type: "linear",
      factor: 2,
    });
  });

  it("names the file and the field for bad input", () => {
    expectConfigError(
      () => parseModelConfig({ ...llama3, architectures: ["GPT2LMHeadModel"] }, "m/config.json"),
      "m/config.json",
      "architectures",
      "GPT2LMHeadModel",
    );
    const missing = expectConfigError(
      () => parseModelConfig({ ...llama3, hidden_size: undefined }, "m/config.json"),
      "m/config.json: hidden_size: missing",
    );
    expect(missing.field).toBe("hidden_size");
    expectConfigError(
      () => parseModelConfig({ ...llama3, num_hidden_layers: "16" }, "m/config.json"),
      "num_hidden_layers",
      '"16"',
    );
    expectConfigError(() => parseModelConfig({ ...llama3, rms_norm_eps: -1 }, "m/config.json"), "rms_norm_eps");
    expectConfigError(
      () => parseModelConfig({ ...llama3, num_key_value_heads: 5 }, "m/config.json"),
      "num_key_value_heads",
    );
    expectConfigError(
      () => parseModelConfig({ ...llama3, rope_scaling: { rope_type: "yarn", factor: 4 } }, "m/config.json"),
      "rope_scaling.rope_type",
      "yarn",
    );
    expectConfigError(
      () => parseModelConfig({ ...llama3, rope_scaling: { rope_type: "llama3", factor: 4 } }, "m/config.json"),
      "rope_scaling.low_freq_factor",
    );
    expectConfigError(() => parseModelConfig({ ...llama3, hidden_act: "gelu" }, "m/config.json"), "hidden_act");
    expectConfigError(() => parseModelConfig({ ...llama3, attention_bias: true }, "m/config.json"), "attention_bias");
    expectConfigError(() => parseModelConfig([1], "m/config.json"), "not a JSON object");
  });

  it("round-trips through toHfConfigJson", () => {
    for (const json of [llama3, qwen2, mistral]) {
      const config = parseModelConfig(json, "x");
      const again = parseModelConfig(toHfConfigJson(config), "y");
      expect({ ...again, raw: undefined }).toEqual({ ...config, raw: undefined });
    }
    expect(toHfConfigJson(parseModelConfig(qwen2, "x")).model_type).toBe("qwen2");
  });
});

describe("readModelConfig", () => {
  it("reads DIR/config.json and explains a missing or broken file", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-config-"));
    try {
      expectConfigError(() => readModelConfig(dir), path.join(dir, "config.json"), "not found");
      fs.writeFileSync(path.join(dir, "config.json"), "{");
      expectConfigError(() => readModelConfig(dir), "config.json", "not valid JSON");
      fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(qwen2));
      expect(readModelConfig(dir).architecture).toBe("Qwen2ForCausalLM");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
