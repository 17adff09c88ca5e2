import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Random } from "./random.js";
import { afterAll, describe, expect, it } from "vitest";
import { type ModelConfig, parseModelConfig } from "./config.js";
import { CheckpointError } from "./errors.js";
import {
  exportAdapterToGguf,
  exportModelToGguf,
  llama3RopeFactors,
  permuteRowsForGgufRope,
  writeGguf,
  writeLoraGguf,
} from "./gguf.js";
import { GgmlType, GgufTokenType, GgufValueType } from "./gguf-format.js";
import { readGguf } from "./gguf-reader.js";
import { dequantizeQ4_K, quantizeQ4_K } from "./k-quant-blocks.js";
import { LINEAR_MODULES, type LoraConfig, peftTensorName, writeAdapterConfig } from "./peft.js";
import { SafetensorsCheckpoint, writeSafetensors } from "./safetensors.js";
import { byteLevelBpe, LLAMA3_SPECIALS } from "./test-tokenizers.js";

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-gguf-"));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** Deterministic values in [−0.5, 0.5) from core's one PRNG. */
function random(seed: number): () => number {
  const generator = new Random(seed);
  return () => generator.next() - 0.5;
}

function tinyConfig(overrides: Record<string, unknown> = {}): ModelConfig {
  return parseModelConfig(
    {
      architectures: ["LlamaForCausalLM"],
      hidden_size: 16,
      intermediate_size: 24,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      vocab_size: 288,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      max_position_embeddings: 128,
      tie_word_embeddings: false,
      bos_token_id: 266,
      eos_token_id: 270,
      ...overrides,
    },
    "tiny/config.json",
  );
}

function tinyTensors(config: ModelConfig, seed = 1): Record<string, { shape: number[]; data: Float32Array }> {
  const next = random(seed);
  const make = (shape: number[]) => ({
    shape,
    data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, next),
  });
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {
    "model.embed_tokens.weight": make([config.vocabSize, config.hiddenSize]),
    "model.norm.weight": make([config.hiddenSize]),
  };
  if (!config.tieWordEmbeddings) tensors["lm_head.weight"] = make([config.vocabSize, config.hiddenSize]);
  const q = config.numHeads * config.headDim;
  const kv = config.numKeyValueHeads * config.headDim;
  for (let layer = 0; layer < config.numLayers; layer++) {
    const prefix = `model.layers.${layer}`;
    tensors[`${prefix}.input_layernorm.weight`] = make([config.hiddenSize]);
    tensors[`${prefix}.post_attention_layernorm.weight`] = make([config.hiddenSize]);
    tensors[`${prefix}.self_attn.q_proj.weight`] = make([q, config.hiddenSize]);
    tensors[`${prefix}.self_attn.k_proj.weight`] = make([kv, config.hiddenSize]);
    tensors[`${prefix}.self_attn.v_proj.weight`] = make([kv, config.hiddenSize]);
    tensors[`${prefix}.self_attn.o_proj.weight`] = make([config.hiddenSize, q]);
    tensors[`${prefix}.mlp.gate_proj.weight`] = make([config.intermediateSize, config.hiddenSize]);
    tensors[`${prefix}.mlp.up_proj.weight`] = make([config.intermediateSize, config.hiddenSize]);
    tensors[`${prefix}.mlp.down_proj.weight`] = make([config.hiddenSize, config.intermediateSize]);
    if (config.attentionBias) {
      tensors[`${prefix}.self_attn.q_proj.bias`] = make([q]);
      tensors[`${prefix}.self_attn.k_proj.bias`] = make([kv]);
      tensors[`${prefix}.self_attn.v_proj.bias`] = make([kv]);
    }
  }
  return tensors;
}

function matVec(matrix: Float32Array, rows: number, columns: number, vector: Float64Array): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) for (let c = 0; c < columns; c++) out[r] += matrix[r * columns + c] * vector[c];
  return out;
}

/** HF's rope: rotate_half pairs element i with i + headDim/2 inside each head. */
function ropeHf(vector: Float64Array, heads: number, headDim: number, position: number, theta: number): Float64Array {
  const out = new Float64Array(vector.length);
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      const angle = position / theta ** ((2 * i) / headDim);
      const a = vector[h * headDim + i];
      const b = vector[h * headDim + i + half];
      out[h * headDim + i] = a * Math.cos(angle) - b * Math.sin(angle);
      out[h * headDim + i + half] = b * Math.cos(angle) + a * Math.sin(angle);
    }
  }
  return out;
}

/** llama.cpp's "normal" rope: rotates adjacent pairs (2i, 2i + 1). */
function ropeAdjacent(
  vector: Float64Array,
  heads: number,
  headDim: number,
  position: number,
  theta: number,
): Float64Array {
  const out = new Float64Array(vector.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < headDim / 2; i++) {
      const angle = position / theta ** ((2 * i) / headDim);
      const a = vector[h * headDim + 2 * i];
      const b = vector[h * headDim + 2 * i + 1];
      out[h * headDim + 2 * i] = a * Math.cos(angle) - b * Math.sin(angle);
      out[h * headDim + 2 * i + 1] = b * Math.cos(angle) + a * Math.sin(angle);
    }
  }
  return out;
}

/** Per-head attention scores q·k (GQA: query head h reads key head h / group). */
function scores(q: Float64Array, k: Float64Array, config: ModelConfig): number[] {
  const group = config.numHeads / config.numKeyValueHeads;
  const result: number[] = [];
  for (let h = 0; h < config.numHeads; h++) {
    let dot = 0;
    const kv = Math.floor(h / group);
    for (let d = 0; d < config.headDim; d++) dot += q[h * config.headDim + d] * k[kv * config.headDim + d];
    result.push(dot);
  }
  return result;
}

describe("permuteRowsForGgufRope", () => {
  it("moves row (head, side, pair) to (head, pair, side)", () => {
    // 2 heads of head_dim 4, one column holding the row index.
    const rows = Float32Array.from({ length: 8 }, (_, i) => i);
    expect(Array.from(permuteRowsForGgufRope(rows, 8, 1, 2))).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
  });

  it("makes llama.cpp's adjacent-pair rope give HF's attention scores (GQA)", () => {
    const config = tinyConfig();
    const tensors = tinyTensors(config);
    const wq = tensors["model.layers.0.self_attn.q_proj.weight"].data;
    const wk = tensors["model.layers.0.self_attn.k_proj.weight"].data;
    const q = config.numHeads * config.headDim;
    const kv = config.numKeyValueHeads * config.headDim;
    const wqGguf = permuteRowsForGgufRope(wq, q, config.hiddenSize, config.numHeads);
    const wkGguf = permuteRowsForGgufRope(wk, kv, config.hiddenSize, config.numKeyValueHeads);
    const next = random(9);
    const x = Float64Array.from({ length: config.hiddenSize }, next);
    const y = Float64Array.from({ length: config.hiddenSize }, next);
    for (const [queryPosition, keyPosition] of [
      [0, 0],
      [5, 2],
      [37, 11],
    ]) {
      const hf = scores(
        ropeHf(matVec(wq, q, config.hiddenSize, x), config.numHeads, config.headDim, queryPosition, config.ropeTheta),
        ropeHf(
          matVec(wk, kv, config.hiddenSize, y),
          config.numKeyValueHeads,
          config.headDim,
          keyPosition,
          config.ropeTheta,
        ),
        config,
      );
      const gguf = scores(
        ropeAdjacent(
          matVec(wqGguf, q, config.hiddenSize, x),
          config.numHeads,
          config.headDim,
          queryPosition,
          config.ropeTheta,
        ),
        ropeAdjacent(
          matVec(wkGguf, kv, config.hiddenSize, y),
          config.numKeyValueHeads,
          config.headDim,
          keyPosition,
          config.ropeTheta,
        ),
        config,
      );
      for (let h = 0; h < hf.length; h++) expect(gguf[h]).toBeCloseTo(hf[h], 10);
    }
  });
});

describe("writeGguf", () => {
  const tokenizerConfig = { bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>", chat_template: "{{ messages }}" };

  it("writes a llama GGUF with llama.cpp names, metadata, tokenizer and permuted q/k", () => {
    const config = tinyConfig();
    const tensors = tinyTensors(config);
    const file = path.join(scratch, "tiny-f32.gguf");
    writeGguf(file, { config, tokenizerJson: byteLevelBpe(), tokenizerConfig, tensors, name: "tiny" });
    const gguf = readGguf(file);
    expect(gguf.version).toBe(3);
    const meta = gguf.metadata;
    expect(meta.get("general.architecture")).toBe("llama");
    expect(meta.get("general.name")).toBe("tiny");
    expect(meta.get("general.file_type")).toBe(0);
    expect(meta.get("llama.context_length")).toBe(128);
    expect(meta.get("llama.embedding_length")).toBe(16);
    expect(meta.get("llama.block_count")).toBe(2);
    expect(meta.get("llama.feed_forward_length")).toBe(24);
    expect(meta.get("llama.rope.dimension_count")).toBe(4);
    expect(meta.get("llama.attention.head_count")).toBe(4);
    expect(meta.get("llama.attention.head_count_kv")).toBe(2);
    expect(meta.get("llama.attention.layer_norm_rms_epsilon")).toBeCloseTo(1e-5, 12);
    expect(meta.get("llama.rope.freq_base")).toBe(10000);
    expect(gguf.metadataTypes.get("llama.rope.freq_base")).toBe(GgufValueType.FLOAT32);
    expect(gguf.metadataTypes.get("llama.block_count")).toBe(GgufValueType.UINT32);

    // Tokenizer: every id has a token; specials are control tokens, padding rows unused.
    const tokens = meta.get("tokenizer.ggml.tokens") as string[];
    const types = meta.get("tokenizer.ggml.token_type") as number[];
    expect(meta.get("tokenizer.ggml.model")).toBe("gpt2");
    expect(meta.get("tokenizer.ggml.pre")).toBe("llama-bpe");
    expect(tokens).toHaveLength(288);
    expect(tokens[259]).toBe("hello");
    expect(tokens[266]).toBe(LLAMA3_SPECIALS[0]);
    expect(types[259]).toBe(GgufTokenType.NORMAL);
    expect(types[266]).toBe(GgufTokenType.CONTROL);
    expect(tokens[280]).toBe("[PAD280]");
    expect(types[280]).toBe(GgufTokenType.UNUSED);
    expect((meta.get("tokenizer.ggml.merges") as string[]).slice(0, 3)).toEqual(["h e", "l l", "he ll"]);
    expect(meta.get("tokenizer.ggml.bos_token_id")).toBe(266);
    expect(meta.get("tokenizer.ggml.eos_token_id")).toBe(270);
    expect(meta.get("tokenizer.ggml.add_bos_token")).toBe(true);
    expect(meta.get("tokenizer.chat_template")).toBe("{{ messages }}");

    // Tensors: names, ggml dims (innermost first), alignment, values.
    const names = gguf.tensors.map((tensor) => tensor.name).sort();
    const expected = ["token_embd.weight", "output_norm.weight", "output.weight"];
    for (let layer = 0; layer < 2; layer++) {
      for (const op of [
        "attn_norm",
        "ffn_norm",
        "attn_q",
        "attn_k",
        "attn_v",
        "attn_output",
        "ffn_gate",
        "ffn_up",
        "ffn_down",
      ])
        expected.push(`blk.${layer}.${op}.weight`);
    }
    expect(names).toEqual(expected.sort());
    for (const tensor of gguf.tensors) {
      expect((tensor.byteOffset - gguf.dataStart) % 32).toBe(0);
      expect(tensor.type).toBe(GgmlType.F32);
    }
    expect(gguf.tensors.find((tensor) => tensor.name === "token_embd.weight")!.dims).toEqual([16, 288]);
    expect(gguf.tensors.find((tensor) => tensor.name === "blk.1.ffn_down.weight")!.dims).toEqual([24, 16]);
    expect(gguf.readFloat32("blk.1.ffn_down.weight")).toEqual(tensors["model.layers.1.mlp.down_proj.weight"].data);
    expect(gguf.readFloat32("output_norm.weight")).toEqual(tensors["model.norm.weight"].data);
    expect(gguf.readFloat32("blk.0.attn_v.weight")).toEqual(tensors["model.layers.0.self_attn.v_proj.weight"].data);
    // q/k: row h*4 + 2j + t of the GGUF is row h*4 + t*2 + j of HF (checked element by element).
    const hfQ = tensors["model.layers.1.self_attn.q_proj.weight"].data;
    const ggufQ = gguf.readFloat32("blk.1.attn_q.weight");
    for (let head = 0; head < 4; head++) {
      for (let j = 0; j < 2; j++) {
        for (let t = 0; t < 2; t++) {
          const ggufRow = ggufQ.subarray((head * 4 + 2 * j + t) * 16, (head * 4 + 2 * j + t + 1) * 16);
          const hfRow = hfQ.subarray((head * 4 + t * 2 + j) * 16, (head * 4 + t * 2 + j + 1) * 16);
          expect(ggufRow).toEqual(hfRow);
        }
      }
    }
    expect(gguf.readFloat32("blk.0.attn_k.weight")).toEqual(
      permuteRowsForGgufRope(tensors["model.layers.0.self_attn.k_proj.weight"].data, 8, 16, 2),
    );
  });

  it("writes F16 matrices, keeps vectors F32, skips output.weight when tied, streams from a safetensors checkpoint", () => {
    const config = tinyConfig({ tie_word_embeddings: true });
    const tensors = tinyTensors(config, 2);
    const dir = path.join(scratch, "tied");
    fs.mkdirSync(dir);
    writeSafetensors(
      path.join(dir, "model.safetensors"),
      Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, { dtype: "F32" as const, ...t }])),
    );
    const checkpoint = SafetensorsCheckpoint.open(dir);
    const file = path.join(scratch, "tiny-f16.gguf");
    writeGguf(file, { config, tokenizerJson: byteLevelBpe(), tokenizerConfig, tensors: checkpoint, dtype: "f16" });
    checkpoint.close();
    const gguf = readGguf(file);
    expect(gguf.metadata.get("general.file_type")).toBe(1);
    expect(gguf.tensors.some((tensor) => tensor.name === "output.weight")).toBe(false);
    const byName = new Map(gguf.tensors.map((tensor) => [tensor.name, tensor]));
    expect(byName.get("token_embd.weight")!.type).toBe(GgmlType.F16);
    expect(byName.get("blk.0.attn_norm.weight")!.type).toBe(GgmlType.F32);
    const embedding = gguf.readFloat32("token_embd.weight");
    const original = tensors["model.embed_tokens.weight"].data;
    for (let i = 0; i < original.length; i++)
      expect(Math.abs(embedding[i] - original[i])).toBeLessThanOrEqual(Math.abs(original[i]) * 2 ** -11 + 2 ** -25);
  });

  it("writes Q4_K matrices where rows are whole super-blocks, Q4_0 or F16 where they are not", () => {
    // hidden 256: every matrix reading the hidden state has rows of one super-block; down_proj's rows
    // hold the intermediate size, 96 (three 32-value blocks) or 40 (not even one block).
    for (const [intermediate, downType] of [
      [96, GgmlType.Q4_0],
      [40, GgmlType.F16],
    ] as const) {
      const config = tinyConfig({ hidden_size: 256, intermediate_size: intermediate });
      const tensors = tinyTensors(config, 3);
      const file = path.join(scratch, `tiny-q4_k-${intermediate}.gguf`);
      writeGguf(file, { config, tokenizerJson: byteLevelBpe(), tokenizerConfig, tensors, dtype: "q4_k" });
      const gguf = readGguf(file);
      expect(gguf.metadata.get("general.file_type")).toBe(14);
      expect(gguf.metadata.get("general.quantization_version")).toBe(2);
      const byName = new Map(gguf.tensors.map((tensor) => [tensor.name, tensor]));
      for (const name of ["token_embd.weight", "output.weight", "blk.1.attn_k.weight", "blk.0.ffn_up.weight"])
        expect(byName.get(name)!.type, name).toBe(GgmlType.Q4_K);
      expect(byName.get("blk.0.ffn_down.weight")!.type).toBe(downType);
      expect(byName.get("blk.0.attn_norm.weight")!.type).toBe(GgmlType.F32);
      // What the file holds is exactly quantizeQ4_K's blocks of the embedding.
      const original = tensors["model.embed_tokens.weight"].data;
      expect(Array.from(gguf.readFloat32("token_embd.weight"))).toEqual(
        Array.from(dequantizeQ4_K(quantizeQ4_K(original), original.length)),
      );
    }
  });

  it("exports Qwen2 as qwen2 with qkv biases and no rope permutation", () => {
    const config = parseModelConfig({ ...tinyConfig().raw, architectures: ["Qwen2ForCausalLM"] }, "qwen/config.json");
    const tensors = tinyTensors(config, 3);
    const file = path.join(scratch, "qwen.gguf");
    writeGguf(file, { config, tokenizerJson: byteLevelBpe(), tokenizerConfig, tensors });
    const gguf = readGguf(file);
    expect(gguf.metadata.get("general.architecture")).toBe("qwen2");
    expect(gguf.metadata.get("qwen2.block_count")).toBe(2);
    expect(gguf.readFloat32("blk.0.attn_q.weight")).toEqual(tensors["model.layers.0.self_attn.q_proj.weight"].data);
    expect(gguf.readFloat32("blk.1.attn_k.bias")).toEqual(tensors["model.layers.1.self_attn.k_proj.bias"].data);
  });

  it("writes llama3 rope factors that turn HF's inverse frequencies into llama.cpp's", () => {
    const config = parseModelConfig(
      {
        ...tinyConfig().raw,
        hidden_size: 256,
        num_attention_heads: 4,
        num_key_value_heads: 4,
        rope_theta: 500000,
        rope_scaling: {
          rope_type: "llama3",
          factor: 32,
          low_freq_factor: 1,
          high_freq_factor: 4,
          original_max_position_embeddings: 8192,
        },
      },
      "x",
    );
    const factors = llama3RopeFactors(config);
    expect(factors).toHaveLength(32);
    // HF's _compute_llama3_parameters, restated over its three bands.
    for (let i = 0; i < 32; i++) {
      const inverseFrequency = 1 / 500000 ** ((2 * i) / 64);
      const wavelength = (2 * Math.PI) / inverseFrequency;
      let hf = inverseFrequency;
      if (wavelength > 8192) hf = inverseFrequency / 32;
      else if (wavelength >= 2048) {
        const smooth = (8192 / wavelength - 1) / (4 - 1);
        hf = (1 - smooth) * (inverseFrequency / 32) + smooth * inverseFrequency;
      }
      // factors are stored as f32, hence the relative tolerance.
      expect(Math.abs(inverseFrequency / factors[i] - hf) / hf).toBeLessThan(1e-6);
    }
    expect(factors[0]).toBe(1);
    expect(factors[31]).toBe(32);
    expect(factors.some((factor) => factor > 1 && factor < 32)).toBe(true);
    const tensors = tinyTensors(config, 4);
    const file = path.join(scratch, "llama3.gguf");
    writeGguf(file, { config, tokenizerJson: byteLevelBpe(), tokenizerConfig, tensors });
    expect(readGguf(file).readFloat32("rope_freqs.weight")).toEqual(factors);
  });

  it("refuses what llama.cpp could not load, naming the tensor", () => {
    const config = tinyConfig();
    const tensors = {
      ...tinyTensors(config),
      "model.layers.0.self_attn.rotary_emb.inv_freq": { shape: [2], data: new Float32Array(2) },
      "model.extra.weight": { shape: [1], data: new Float32Array(1) },
    };
    expect(() =>
      writeGguf(path.join(scratch, "bad.gguf"), { config, tokenizerJson: byteLevelBpe(), tensors }),
    ).toThrowError(/bad\.gguf: tensor "model\.extra\.weight": no GGUF counterpart/);
    expect(fs.existsSync(path.join(scratch, "bad.gguf"))).toBe(false);
    const wordLevel = { model: { type: "WordLevel", vocab: { a: 0 } }, pre_tokenizer: { type: "Whitespace" } };
    expect(() =>
      writeGguf(path.join(scratch, "bad.gguf"), { config, tokenizerJson: wordLevel, tensors: tinyTensors(config) }),
    ).toThrowError(CheckpointError);
    const small = tinyConfig({ vocab_size: 100 });
    expect(() =>
      writeGguf(path.join(scratch, "bad.gguf"), {
        config: small,
        tokenizerJson: byteLevelBpe(),
        tensors: tinyTensors(small),
      }),
    ).toThrowError(/outside the model's vocab_size 100/);
    const wrongShape = tinyTensors(config);
    wrongShape["model.norm.weight"] = { shape: [17], data: new Float32Array(16) };
    expect(() =>
      writeGguf(path.join(scratch, "bad.gguf"), { config, tokenizerJson: byteLevelBpe(), tensors: wrongShape }),
    ).toThrowError(/"output_norm\.weight": has 16 values/);
  });
});

describe("writeLoraGguf", () => {
  it("writes PEFT factors as llama.cpp lora_a/lora_b, B rows permuted for q/k, so the merged weight matches", () => {
    const config = tinyConfig();
    const r = 3;
    const next = random(5);
    const q = config.numHeads * config.headDim;
    const kv = config.numKeyValueHeads * config.headDim;
    const outputs: Record<string, number> = {
      q_proj: q,
      k_proj: kv,
      v_proj: kv,
      o_proj: config.hiddenSize,
      gate_proj: 24,
      up_proj: 24,
      down_proj: config.hiddenSize,
    };
    const inputs: Record<string, number> = {
      q_proj: 16,
      k_proj: 16,
      v_proj: 16,
      o_proj: q,
      gate_proj: 16,
      up_proj: 16,
      down_proj: 24,
    };
    const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (let layer = 0; layer < 2; layer++) {
      for (const module of LINEAR_MODULES) {
        tensors[peftTensorName(layer, module, "A")] = {
          shape: [r, inputs[module]],
          data: Float32Array.from({ length: r * inputs[module] }, next),
        };
        tensors[peftTensorName(layer, module, "B")] = {
          shape: [outputs[module], r],
          data: Float32Array.from({ length: outputs[module] * r }, next),
        };
      }
    }
    const lora: LoraConfig = {
      r,
      alpha: 6,
      targetModules: [...LINEAR_MODULES],
      dropout: 0,
      rslora: true,
      bias: "none",
    };
    const file = path.join(scratch, "adapter.gguf");
    writeLoraGguf(file, { config, lora, tensors });
    const gguf = readGguf(file);
    expect(gguf.metadata.get("general.type")).toBe("adapter");
    expect(gguf.metadata.get("adapter.type")).toBe("lora");
    expect(gguf.metadata.get("general.architecture")).toBe("llama");
    // llama.cpp scales by alpha / r: with rsLoRA the stored alpha makes that alpha/√r.
    expect((gguf.metadata.get("adapter.lora.alpha") as number) / r).toBeCloseTo(6 / Math.sqrt(3), 6);
    expect(gguf.tensors).toHaveLength(28);
    const a = gguf.tensors.find((tensor) => tensor.name === "blk.1.attn_q.weight.lora_a")!;
    const b = gguf.tensors.find((tensor) => tensor.name === "blk.1.attn_q.weight.lora_b")!;
    expect(a.dims).toEqual([16, r]); // ne[0] = in, ne[1] = r, as llama.cpp checks
    expect(b.dims).toEqual([r, q]);
    expect(gguf.readFloat32("blk.0.ffn_down.weight.lora_b")).toEqual(tensors[peftTensorName(0, "down_proj", "B")].data);
    // Merged update: (P·B)·A must equal P·(B·A).
    const hfB = tensors[peftTensorName(1, "q_proj", "B")].data;
    const hfA = tensors[peftTensorName(1, "q_proj", "A")].data;
    const delta = new Float32Array(q * 16);
    for (let row = 0; row < q; row++)
      for (let column = 0; column < 16; column++)
        for (let k = 0; k < r; k++) delta[row * 16 + column] += hfB[row * r + k] * hfA[k * 16 + column];
    const expectedDelta = permuteRowsForGgufRope(delta, q, 16, config.numHeads);
    const ggufB = gguf.readFloat32("blk.1.attn_q.weight.lora_b");
    const ggufA = gguf.readFloat32("blk.1.attn_q.weight.lora_a");
    for (let row = 0; row < q; row++) {
      for (let column = 0; column < 16; column++) {
        let sum = 0;
        for (let k = 0; k < r; k++) sum += ggufB[row * r + k] * ggufA[k * 16 + column];
        expect(sum).toBeCloseTo(expectedDelta[row * 16 + column], 5);
      }
    }
  });

  it("refuses tensors that are not PEFT LoRA factors", () => {
    const config = tinyConfig();
    const lora: LoraConfig = { r: 1, alpha: 1, targetModules: ["q_proj"], dropout: 0, rslora: false, bias: "none" };
    expect(() =>
      writeLoraGguf(path.join(scratch, "x.gguf"), {
        config,
        lora,
        tensors: { "lm_head.weight": { shape: [1, 1], data: new Float32Array(1) } },
      }),
    ).toThrowError(/"lm_head\.weight": not a PEFT LoRA/);
    expect(() => writeLoraGguf(path.join(scratch, "x.gguf"), { config, lora, tensors: {} })).toThrowError(
      /no LoRA tensors/,
    );
  });
});

describe("exportModelToGguf / exportAdapterToGguf (folders)", () => {
  it("exports a BF16 HF folder and a PEFT adapter folder", () => {
    const config = tinyConfig({ tie_word_embeddings: true });
    const tensors = tinyTensors(config, 8);
    const modelDir = path.join(scratch, "hf-model");
    fs.mkdirSync(modelDir);
    fs.writeFileSync(path.join(modelDir, "config.json"), JSON.stringify(config.raw));
    fs.writeFileSync(path.join(modelDir, "tokenizer.json"), JSON.stringify(byteLevelBpe()));
    fs.writeFileSync(
      path.join(modelDir, "tokenizer_config.json"),
      JSON.stringify({ bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>" }),
    );
    fs.writeFileSync(path.join(modelDir, "chat_template.jinja"), "{{ bos_token }}");
    writeSafetensors(
      path.join(modelDir, "model.safetensors"),
      Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, { dtype: "BF16" as const, ...t }])),
    );
    const summary = exportModelToGguf(modelDir, path.join(scratch, "folder.gguf"));
    expect(summary.tensors).toBe(2 + 2 * 9);
    expect(summary.bytes).toBe(fs.statSync(path.join(scratch, "folder.gguf")).size);
    const gguf = readGguf(summary.file);
    expect(gguf.metadata.get("general.name")).toBe("hf-model");
    expect(gguf.metadata.get("tokenizer.chat_template")).toBe("{{ bos_token }}");
    // BF16 weights widen exactly to f32.
    const norm = gguf.readFloat32("output_norm.weight");
    const bf16 = SafetensorsCheckpoint.open(modelDir);
    expect(norm).toEqual(bf16.readFloat32("model.norm.weight"));
    bf16.close();

    const adapterDir = path.join(scratch, "adapter");
    const lora: LoraConfig = {
      r: 2,
      alpha: 4,
      targetModules: ["q_proj", "v_proj"],
      dropout: 0,
      rslora: false,
      bias: "none",
    };
    writeAdapterConfig(adapterDir, lora);
    const next = random(3);
    const factors: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
    for (let layer = 0; layer < 2; layer++) {
      for (const module of ["q_proj", "v_proj"] as const) {
        const out = module === "q_proj" ? 16 : 8;
        factors[peftTensorName(layer, module, "A")] = {
          dtype: "F32",
          shape: [2, 16],
          data: Float32Array.from({ length: 32 }, next),
        };
        factors[peftTensorName(layer, module, "B")] = {
          dtype: "F32",
          shape: [out, 2],
          data: Float32Array.from({ length: out * 2 }, next),
        };
      }
    }
    writeSafetensors(path.join(adapterDir, "adapter_model.safetensors"), factors);
    const adapter = exportAdapterToGguf(adapterDir, modelDir, path.join(scratch, "folder-adapter.gguf"));
    expect(adapter.tensors).toBe(8);
    expect(readGguf(adapter.file).metadata.get("adapter.lora.alpha")).toBe(4);
  });

  it("explains a folder without a tokenizer", () => {
    const modelDir = path.join(scratch, "no-tokenizer");
    fs.mkdirSync(modelDir);
    fs.writeFileSync(path.join(modelDir, "config.json"), JSON.stringify(tinyConfig().raw));
    expect(() => exportModelToGguf(modelDir, path.join(scratch, "x.gguf"))).toThrowError(
      `no tokenizer.json in ${modelDir} — pass --tokenizer`,
    );
  });
});
