// loadModel("model.gguf"): an HF checkpoint exported with the GGUF writer and loaded back must give
// the very logits the safetensors folder gives (the rope permutation undone, biases, tied
// embeddings, Llama-3 and linear rope scaling recovered from the metadata), and its embedded
// tokenizer must tokenize as the tokenizer.json it came from. Bad files fail before any tensor is
// read, naming the file and the key or tensor.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Random } from "./random.js";
import { afterAll, describe, expect, it } from "vitest";
import { type ModelConfig, parseModelConfig, toHfConfigJson } from "./config.js";
import { CheckpointError, ConfigError } from "./errors.js";
import { exportModelToGguf, llama3RopeFactors, writeGgufFile } from "./gguf.js";
import { GGML_TYPES } from "./gguf-format.js";
import { readGguf } from "./gguf-reader.js";
import { loadModel } from "./load-model.js";
import { dequantizeQ4_0, dequantizeQ8_0, quantizeQ4_0, quantizeQ8_0 } from "./quantized-blocks.js";
import { writeSafetensors } from "./safetensors.js";
import { saveModel } from "./save-model.js";
import { byteTokenizerJson, createTinyModel } from "./tiny-model.js";

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-gguf-model-"));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** Deterministic values in [−0.5, 0.5) from core's one PRNG. */
function random(seed: number): () => number {
  const generator = new Random(seed);
  return () => generator.next() - 0.5;
}

/** An HF folder (config.json, model.safetensors, the byte tokenizer) of random weights for `config`. */
function writeHfFolder(dir: string, config: ModelConfig, seed: number): void {
  const next = random(seed);
  const tensors: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
  const make = (name: string, shape: number[], scale = 0.5) => {
    tensors[name] = {
      dtype: "F32",
      shape,
      data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => next() * scale),
    };
  };
  const { hiddenSize: d, intermediateSize: f, vocabSize: v } = config;
  const q = config.numHeads * config.headDim;
  const kv = config.numKeyValueHeads * config.headDim;
  make("model.embed_tokens.weight", [v, d], 2);
  make("model.norm.weight", [d]);
  if (!config.tieWordEmbeddings) make("lm_head.weight", [v, d]);
  for (let layer = 0; layer < config.numLayers; layer++) {
    const p = `model.layers.${layer}`;
    make(`${p}.input_layernorm.weight`, [d]);
    make(`${p}.post_attention_layernorm.weight`, [d]);
    make(`${p}.self_attn.q_proj.weight`, [q, d]);
    make(`${p}.self_attn.k_proj.weight`, [kv, d]);
    make(`${p}.self_attn.v_proj.weight`, [kv, d]);
    make(`${p}.self_attn.o_proj.weight`, [d, q]);
    make(`${p}.mlp.gate_proj.weight`, [f, d]);
    make(`${p}.mlp.up_proj.weight`, [f, d]);
    make(`${p}.mlp.down_proj.weight`, [d, f]);
    if (config.attentionBias) {
      make(`${p}.self_attn.q_proj.bias`, [q]);
      make(`${p}.self_attn.k_proj.bias`, [kv]);
      make(`${p}.self_attn.v_proj.bias`, [kv]);
    }
  }
  fs.mkdirSync(dir, { recursive: true });
  writeSafetensors(path.join(dir, "model.safetensors"), tensors, { format: "pt" });
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(toHfConfigJson(config)));
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(byteTokenizerJson()));
  fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify({ bos_token: "<s>", eos_token: "</s>" }));
}

function config(overrides: Record<string, unknown>): ModelConfig {
  return parseModelConfig(
    {
      architectures: ["LlamaForCausalLM"],
      hidden_size: 32,
      intermediate_size: 64,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      vocab_size: 288,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      max_position_embeddings: 256,
      tie_word_embeddings: false,
      bos_token_id: 256,
      eos_token_id: 257,
      ...overrides,
    },
    "test/config.json",
  );
}

const CASES: Record<string, ModelConfig> = {
  "llama, GQA, untied": config({}),
  "qwen2, qkv biases, tied, one KV head": config({
    architectures: ["Qwen2ForCausalLM"],
    num_key_value_heads: 1,
    tie_word_embeddings: true,
    rope_theta: 1000000,
  }),
  "llama3 rope scaling (rope_freqs.weight)": config({
    // head_dim 32: two rotary frequencies fall between the bands, as six do in Llama-3's head_dim 128.
    hidden_size: 128,
    rope_theta: 500000,
    rope_scaling: {
      rope_type: "llama3",
      factor: 32,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 1024,
    },
  }),
  "linear rope scaling": config({ rope_scaling: { rope_type: "linear", factor: 4 } }),
};

const tokens = Int32Array.from({ length: 40 }, (_, i) => (i * 37 + 5) % 259);

function maxAbsoluteDifference(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

describe("loadModel on a GGUF file exported by pillow", () => {
  Object.entries(CASES).forEach(([label, modelConfig], index) => {
    it(`gives the safetensors model's logits at every position: ${label}`, async () => {
      const hf = path.join(scratch, `case-${index}`);
      writeHfFolder(hf, modelConfig, 11 + index);
      const file = path.join(scratch, `case-${index}.gguf`);
      exportModelToGguf(hf, file);
      const reference = await loadModel(hf, { threads: 2 });
      const model = await loadModel(file, { threads: 2 });
      expect(model.config.architecture).toBe(modelConfig.architecture);
      for (const field of [
        "hiddenSize",
        "intermediateSize",
        "numLayers",
        "numHeads",
        "numKeyValueHeads",
        "headDim",
        "vocabSize",
        "tieWordEmbeddings",
        "attentionBias",
      ] as const) {
        expect(model.config[field], field).toEqual(modelConfig[field]);
      }
      expect(model.config.rmsNormEps).toBeCloseTo(modelConfig.rmsNormEps, 10);
      expect(model.config.ropeScaling?.type ?? null).toBe(modelConfig.ropeScaling?.type ?? null);
      if (modelConfig.ropeScaling?.type === "llama3") {
        // Recovered parameters need not be the originals, but must give the same per-frequency divisors.
        const recovered = llama3RopeFactors(model.config);
        const original = llama3RopeFactors(modelConfig);
        expect(maxAbsoluteDifference(recovered, original) / 32).toBeLessThan(1e-6);
        expect(new Set(original).size).toBeGreaterThan(3);
      }
      if (modelConfig.ropeScaling?.type === "linear") expect(model.config.ropeScaling).toEqual(modelConfig.ropeScaling);
      // Every tensor back bit for bit (f32 in, f32 out; permutation and its inverse move rows only).
      for (const name of reference.native.tensorNames())
        expect(model.native.getTensor(name), name).toEqual(reference.native.getTensor(name));
      const expected = await reference.forward(tokens);
      const actual = await model.forward(tokens);
      // Llama-3 parameters come back from f32 divisors, so the rope angles can differ in the last bits.
      const largest = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(maxAbsoluteDifference(actual, expected) / largest).toBeLessThan(
        modelConfig.ropeScaling?.type === "llama3" ? 1e-5 : 1e-7,
      );
      reference.dispose();
      model.dispose();
    });
  });

  it("the embedded tokenizer encodes and decodes as tokenizer.json does", async () => {
    const hf = path.join(scratch, "tiny");
    createTinyModel(hf, { hiddenSize: 64, numLayers: 1, numHeads: 4, seed: 3 });
    fs.writeFileSync(
      path.join(hf, "tokenizer_config.json"),
      JSON.stringify({ bos_token: "<s>", eos_token: "</s>", chat_template: "{{ messages[0].content }}" }),
    );
    const file = path.join(scratch, "tiny.gguf");
    exportModelToGguf(hf, file);
    const reference = await loadModel(hf, { threads: 2 });
    const model = await loadModel(file, { threads: 2 });
    const original = reference.tokenizer!;
    const embedded = model.tokenizer!;
    expect(embedded.bosTokenId).toBe(original.bosTokenId);
    expect(embedded.eosTokenIds).toEqual(original.eosTokenIds);
    expect(embedded.chatTemplate).toBe("{{ messages[0].content }}");
    for (const text of [
      "### Instruction:\nPluralize the word.\n### Input:\nmouse\n",
      "héllo wörld 👋, 12345!",
      "<s>special</s> tokens",
    ]) {
      expect(Array.from(embedded.encode(text)), text).toEqual(Array.from(original.encode(text)));
      expect(embedded.decode(embedded.encode(text, { addSpecialTokens: false }))).toBe(text);
    }
    // saveModel writes an HF folder, tokenizer files built from the GGUF's metadata included.
    const saved = path.join(scratch, "tiny-saved");
    saveModel(model, saved);
    const again = await loadModel(saved, { threads: 2 });
    expect(Array.from(again.tokenizer!.encode("héllo <s>"))).toEqual(Array.from(original.encode("héllo <s>")));
    expect(await again.forward(tokens)).toEqual(await model.forward(tokens));
    again.dispose();
    reference.dispose();
    model.dispose();
  });
});

describe("loadModel on a Q8_0 / Q4_0 GGUF (getTensor: the dequantized blocks, kept or not)", () => {
  for (const dtype of ["q8_0", "q4_0"] as const) {
    it(`holds exactly the dequantized blocks of each HF matrix (${dtype})`, async () => {
      const hf = path.join(scratch, `quantized-${dtype}`);
      writeHfFolder(hf, CASES["llama, GQA, untied"], 21);
      const file = path.join(scratch, `model-${dtype}.gguf`);
      exportModelToGguf(hf, file, { dtype });
      const gguf = readGguf(file);
      const types = new Set(gguf.tensors.filter((t) => t.dims.length === 2).map((t) => GGML_TYPES[t.type].name));
      expect([...types]).toEqual([dtype.toUpperCase()]);
      const reference = await loadModel(hf, { threads: 2 });
      const model = await loadModel(file, { threads: 2 });
      const [quantize, dequantize] = dtype === "q8_0" ? [quantizeQ8_0, dequantizeQ8_0] : [quantizeQ4_0, dequantizeQ4_0];
      for (const name of reference.native.tensorNames()) {
        const original = reference.native.getTensor(name);
        // Blocks run along rows, so the q/k row permutation does not change which values share a block.
        const expected =
          reference.native.tensorShape(name).length === 2 ? dequantize(quantize(original), original.length) : original;
        expect(model.native.getTensor(name), name).toEqual(expected);
      }
      reference.dispose();
      model.dispose();
    });
  }
});

/** The offset of `text` in the file (its first occurrence), for corrupting one field. */
function offsetOf(bytes: Buffer, text: string): number {
  const at = bytes.indexOf(Buffer.from(text, "utf8"));
  if (at < 0) throw new Error(`${text} not in the file`);
  return at;
}

describe("loadModel on a bad GGUF file", () => {
  let good = "";
  const exported = () => {
    if (good) return good;
    const hf = path.join(scratch, "bad-source");
    createTinyModel(hf, { hiddenSize: 64, numLayers: 1, numHeads: 4, seed: 5, tieWordEmbeddings: false });
    good = path.join(scratch, "good.gguf");
    exportModelToGguf(hf, good);
    return good;
  };
  const corrupt = (name: string, edit: (bytes: Buffer) => Buffer): string => {
    const file = path.join(scratch, name);
    fs.writeFileSync(file, edit(fs.readFileSync(exported())));
    return file;
  };
  const failure = async (file: string): Promise<Error> => {
    try {
      await loadModel(file, { threads: 2 });
    } catch (error) {
      return error as Error;
    }
    throw new Error("loadModel did not throw");
  };

  it("a missing file", async () => {
    const error = await failure(path.join(scratch, "absent.gguf"));
    expect(error).toBeInstanceOf(CheckpointError);
    expect((error as CheckpointError).code).toBe("E_FILE_NOT_FOUND");
  });

  it("a file cut inside the header, and one cut inside the tensor data", async () => {
    const header = await failure(corrupt("cut-header.gguf", (bytes) => bytes.subarray(0, 200)));
    expect(header).toBeInstanceOf(CheckpointError);
    expect((header as CheckpointError).code).toBe("E_TRUNCATED");
    expect(header.message).toContain("cut-header.gguf");
    const data = await failure(corrupt("cut-data.gguf", (bytes) => bytes.subarray(0, bytes.length - 100)));
    expect((data as CheckpointError).code).toBe("E_TRUNCATED");
    // The last tensor in the file is the one that no longer fits; the error names it.
    expect((data as CheckpointError).tensor).toBeDefined();
    expect(data.message).toContain("cut-data.gguf");
  });

  it("an unknown tensor type, and a known one pillow cannot decode", async () => {
    // Tensor info: name, u32 dimension count, u64 dims…, u32 type, u64 offset.
    const typeAt = (bytes: Buffer, name: string) => offsetOf(bytes, name) + name.length + 4 + 8 * 2;
    const unknown = await failure(
      corrupt("unknown-type.gguf", (bytes) => {
        bytes.writeUInt32LE(99, typeAt(bytes, "blk.0.ffn_up.weight"));
        return bytes;
      }),
    );
    expect(unknown).toBeInstanceOf(CheckpointError);
    expect((unknown as CheckpointError).code).toBe("E_DTYPE");
    expect((unknown as CheckpointError).tensor).toBe("blk.0.ffn_up.weight");
    expect(unknown.message).toContain("unknown ggml tensor type 99");
    // Q4_K (type 12) is 144 bytes per 256 values; 256 × 64 F32 bytes hold it, but the row of 64 is not a block.
    const q4k = await failure(
      corrupt("q4k.gguf", (bytes) => {
        bytes.writeUInt32LE(12, typeAt(bytes, "blk.0.ffn_up.weight"));
        return bytes;
      }),
    );
    expect((q4k as CheckpointError).code).toBe("E_SHAPE");
    expect(q4k.message).toContain("Q4_K's block size 256");
  });

  it("a well-formed tensor of a type pillow does not decode (Q2_K) names the type", () => {
    const file = path.join(scratch, "q2k.gguf");
    writeGgufFile(
      file,
      [["general.alignment", { type: "u32", value: 32 }]],
      [{ name: "w", shape: [2, 256], type: 10 /* Q2_K */, produce: () => new Uint8Array(2 * 84) }],
    );
    const gguf = readGguf(file);
    expect(gguf.tensors[0].byteLength).toBe(168);
    expect(() => gguf.readFloat32("w")).toThrow(/tensor "w": ggml type Q2_K cannot be read/);
  });

  it("a misaligned tensor offset", async () => {
    const error = await failure(
      corrupt("misaligned.gguf", (bytes) => {
        const at = offsetOf(bytes, "output_norm.weight") + "output_norm.weight".length + 4 + 8 + 4;
        bytes.writeBigUInt64LE(bytes.readBigUInt64LE(at) + 4n, at);
        return bytes;
      }),
    );
    expect((error as CheckpointError).code).toBe("E_OFFSETS");
    expect((error as CheckpointError).tensor).toBe("output_norm.weight");
  });

  it("an architecture pillow does not run", async () => {
    const error = await failure(
      corrupt("arch.gguf", (bytes) => {
        // general.architecture's value "llama" (u32 type, u64 length, then the text).
        const at = offsetOf(bytes, "general.architecture") + "general.architecture".length + 4 + 8;
        bytes.write("bloom", at, "utf8");
        return bytes;
      }),
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe("E_UNSUPPORTED");
    expect((error as ConfigError).field).toBe("general.architecture");
    expect(error.message).toContain("arch.gguf");
  });

  it("a tokenizer type pillow does not support, and an unknown pre-tokenizer", async () => {
    const model = await failure(
      corrupt("tokenizer-model.gguf", (bytes) => {
        const at = offsetOf(bytes, "tokenizer.ggml.model") + "tokenizer.ggml.model".length + 4 + 8;
        bytes.write("bert", at, "utf8");
        return bytes;
      }),
    );
    expect(model).toBeInstanceOf(ConfigError);
    expect((model as ConfigError).field).toBe("tokenizer.ggml.model");
    expect((model as ConfigError).code).toBe("E_UNSUPPORTED");
    const pre = await failure(
      corrupt("tokenizer-pre.gguf", (bytes) => {
        // The tiny model's pre-tokenizer is "default"; "dbrx!!!" has the same length.
        const at = offsetOf(bytes, "tokenizer.ggml.pre") + "tokenizer.ggml.pre".length + 4 + 8;
        bytes.write("dbrx!!!", at, "utf8");
        return bytes;
      }),
    );
    expect((pre as ConfigError).field).toBe("tokenizer.ggml.pre");
  });

  it("a missing required key names it", async () => {
    const error = await failure(
      corrupt("no-blocks.gguf", (bytes) => {
        const at = offsetOf(bytes, "llama.block_count");
        bytes.write("llama.block_kount", at, "utf8");
        return bytes;
      }),
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).field).toBe("llama.block_count");
  });
});
