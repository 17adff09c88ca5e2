// GGUF import and quantized weights, checked against llama.cpp itself (node-llama-cpp's prebuilt CPU
// binary): llama.cpp decodes every Q8_0 / Q4_0 block pillow writes to the values pillow decodes; the
// files `pillow quantize` writes load in llama.cpp; on Q8_0, Q4_0 and Q4_K (blocks kept, the
// activations rounded to Q8_0, or Q8_K for Q4_K, as llama.cpp's quantized matmul rounds them) its
// logits agree with pillow's to
// float rounding position by position, and pillow with the same file dequantized into f32 at load
// differs from llama.cpp by exactly llama.cpp's distance from its own f32 path on the same values;
// greedy text is the same; the tokenizer pillow builds from a GGUF's
// `tokenizer.ggml.*` keys splits text exactly as llama.cpp's own tokenizer does, for SentencePiece
// ("llama") and byte-level BPE ("gpt2": default, gpt-2, llama-bpe and qwen2 pre-tokenizers).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  byteTokenizerJson,
  exportModelToGguf,
  GgmlType,
  GgufTokenType,
  type GgufValue,
  ggufTensorName,
  dequantizeQ4_0,
  dequantizeQ4_K,
  dequantizeQ8_0,
  loadModel,
  type PlannedTensor,
  parseModelConfig,
  quantizeQ4_0,
  quantizeQ4_K,
  quantizeQ8_0,
  readModelConfig,
  SafetensorsCheckpoint,
  writeGguf,
  writeGgufFile,
} from "@pillow/core";
import type { Token } from "node-llama-cpp";
import { createGqaTestModel, gqaTestVocab } from "./gqa-test-model.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodePathLogits } from "./decode-path.js";
import {
  llamaCppGreedyTokens,
  llamaCppLogits,
  llamaCppStepLogits,
  openLlamaCpp,
  openLlamaCppModel,
  relativeError,
} from "./llama-cpp-peer.js";

const vocab = gqaTestVocab;
let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-gguf-import-"));
  createGqaTestModel(dir);
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/**
 * The model in the HF folder `hf` written to `file` as an F32 GGUF whose matrices hold the values of
 * their quantized blocks (dequantize(quantize(w))): llama.cpp's f32 path on exactly the weights
 * pillow runs, for the distance of llama.cpp's quantized path from its own f32 one.
 */
function writeDequantizedGguf(
  hf: string,
  file: string,
  quantize: (values: Float32Array) => Uint8Array,
  dequantize: (blocks: Uint8Array, count: number) => Float32Array,
): void {
  const checkpoint = SafetensorsCheckpoint.open(hf);
  try {
    const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const name of checkpoint.names()) {
      const { shape } = checkpoint.info(name);
      const values = checkpoint.readFloat32(name);
      tensors[name] = { shape, data: shape.length === 2 ? dequantize(quantize(values), values.length) : values };
    }
    writeGguf(file, {
      config: readModelConfig(hf),
      tokenizerJson: JSON.parse(fs.readFileSync(path.join(hf, "tokenizer.json"), "utf8")),
      tensors,
    });
  } finally {
    checkpoint.close();
  }
}

/** llama.cpp's greedy continuation of `prompt`, `count` tokens. */
async function llamaCppGreedy(file: string, prompt: Int32Array, count: number): Promise<number[]> {
  const runner = await openLlamaCppModel(file, { threads: 2, contextSize: 128, batchSize: 128, exact: true });
  try {
    return await llamaCppGreedyTokens(runner, prompt, count);
  } finally {
    await runner.dispose();
  }
}

// The 23 tokens whose logits the quantized-file comparisons (Q8_0 / Q4_0 and Q4_K) hold pillow and
// llama.cpp to, and llama.cpp's logits of them on a file.
const tokens = Int32Array.from({ length: 23 }, (_, i) => (i * 37 + 5) % 259);

async function llamaCppOn(file: string): Promise<Float32Array> {
  const runner = await openLlamaCppModel(file, { threads: 2, contextSize: 64, batchSize: 64, exact: true });
  try {
    return await llamaCppLogits(runner, tokens, vocab);
  } finally {
    await runner.dispose();
  }
}

describe("llama.cpp on the Q8_0 / Q4_0 GGUFs pillow quantize writes", () => {
  for (const dtype of ["q8_0", "q4_0"] as const) {
    it(`loads it, agrees with pillow up to its own activation quantization, same 32 greedy tokens (${dtype})`, async () => {
      const hf = path.join(dir, "hf");
      const file = path.join(dir, `model-${dtype}.gguf`);
      exportModelToGguf(hf, file, { dtype });
      const model = await loadModel(file, { threads: 2 }); // blocks kept (the CPU default)
      const pillow = await model.forward(tokens);
      const pillowDequantized = await loadModel(file, { threads: 2, quantized: "dequantize" });
      const pillowF32 = await pillowDequantized.forward(tokens);
      pillowDequantized.dispose();
      const quantized = await llamaCppOn(file);
      // The same block values as F32 tensors: llama.cpp's f32 path on exactly the weights pillow runs.
      const [quantize, dequantize] = dtype === "q8_0" ? [quantizeQ8_0, dequantizeQ8_0] : [quantizeQ4_0, dequantizeQ4_0];
      const dequantizedFile = path.join(dir, `model-${dtype}-as-f32.gguf`);
      writeDequantizedGguf(hf, dequantizedFile, quantize, dequantize);
      const dequantized = await llamaCppOn(dequantizedFile);
      const f32 = await loadModel(hf, { threads: 2 });
      const quantizationEffect = relativeError(pillow, await f32.forward(tokens));
      f32.dispose();
      const gap = relativeError(quantized, pillow);
      const ownGap = relativeError(quantized, dequantized);
      console.log(
        `${dtype}: max |Δlogit| / max |logit|: llama.cpp ${dtype} vs pillow on the same file ${gap.toExponential(2)}; ` +
          `llama.cpp ${dtype} vs llama.cpp f32 on the same values ${ownGap.toExponential(2)}; ` +
          `llama.cpp f32 on those values vs pillow ${relativeError(dequantized, pillow).toExponential(2)}; quantization itself (f32 model vs ${dtype}) ${quantizationEffect.toExponential(2)}`,
      );
      // pillow with the blocks dequantized at load: the same weight values, both in f32, only
      // summation order differs from llama.cpp's f32 path...
      expect(relativeError(dequantized, pillowF32)).toBeLessThan(1e-5);
      // ...and llama.cpp's quantized matmul rounds the activations to Q8_0 blocks (ggml's vec_dot_type),
      // which is its whole distance from that path.
      expect(relativeError(quantized, pillowF32)).toBeLessThan(ownGap * 1.05 + 1e-5);
      // pillow keeps the blocks and rounds the activations to Q8_0 as llama.cpp does: position by
      // position the logits agree to float rounding, but for the rare position where an activation
      // lies within rounding of a code boundary and the two programs round it to neighbouring codes
      // (measured on Q8_0: 22 of 23 positions within 4e-7, one at 1.9e-3 to 2.7e-3 by host; on Q4_0: all
      // 23 within 3e-7, now that pillow's RMSNorm scale and Q8_0 rounding are llama.cpp's, 4 Dec 2026).
      const rowGaps = Array.from({ length: tokens.length }, (_, p) =>
        relativeError(quantized.subarray(p * vocab, (p + 1) * vocab), pillow.subarray(p * vocab, (p + 1) * vocab)),
      );
      console.log(`${dtype}: per-position gaps ${rowGaps.map((g) => g.toExponential(1)).join(" ")}`);
      expect(rowGaps.filter((g) => g > 1e-5).length).toBeLessThanOrEqual(2);
      expect(gap).toBeLessThan(ownGap / 2);
      // The check has teeth: quantizing moves the logits further than the two programs differ.
      expect(quantizationEffect).toBeGreaterThan(gap);

      const prompt = tokens.subarray(0, 8);
      const ours = await model.generate(prompt, { maxNewTokens: 32, temperature: 0, ignoreEos: true });
      const theirs = await llamaCppGreedy(file, prompt, 32);
      expect(Array.from(ours.tokens)).toEqual(theirs);
      model.dispose();
    });
  }
});

describe("llama.cpp on the Q4_K GGUF pillow quantize writes", () => {
  it("loads it; its logits agree with pillow's (Q4_K kept, x rounded to Q8_K) within 1e-3 of the largest, same 32 greedy tokens", async () => {
    // Hidden 256, intermediate 512: every matrix is Q4_K. llama.cpp multiplies the blocks with the
    // activations rounded to Q8_K (256 values, one f32 scale); so does pillow with the blocks kept.
    const hf = createGqaTestModel(dir, { name: "hf-256", wide: true });
    const file = path.join(dir, "model-q4_k.gguf");
    exportModelToGguf(hf, file, { dtype: "q4_k" });
    const theirs = await llamaCppOn(file);
    const model = await loadModel(file, { threads: 2 }); // blocks kept (the CPU default)
    const ours = await model.forward(tokens);
    const pillowDequantized = await loadModel(file, { threads: 2, quantized: "dequantize" });
    const oursF32 = await pillowDequantized.forward(tokens);
    pillowDequantized.dispose();
    // The same block values as F32 tensors: llama.cpp's f32 path on exactly the weights pillow runs.
    const dequantizedFile = path.join(dir, "model-q4_k-as-f32.gguf");
    writeDequantizedGguf(hf, dequantizedFile, quantizeQ4_K, dequantizeQ4_K);
    const theirsF32 = await llamaCppOn(dequantizedFile);
    const f32 = await loadModel(hf, { threads: 2 });
    const quantizationEffect = relativeError(ours, await f32.forward(tokens));
    f32.dispose();
    const gap = relativeError(theirs, ours);
    const ownGap = relativeError(theirs, theirsF32);
    const rowGaps = Array.from({ length: tokens.length }, (_, p) =>
      relativeError(theirs.subarray(p * vocab, (p + 1) * vocab), ours.subarray(p * vocab, (p + 1) * vocab)),
    );
    console.log(
      `q4_k: max |Δlogit| / max |logit|: llama.cpp q4_k vs pillow on the same file ${gap.toExponential(2)} ` +
        `(per position max ${Math.max(...rowGaps).toExponential(1)}); ` +
        `llama.cpp q4_k vs llama.cpp f32 on the same values ${ownGap.toExponential(2)}; ` +
        `llama.cpp f32 vs pillow dequantized ${relativeError(theirsF32, oursF32).toExponential(2)}; quantization itself (f32 model vs q4_k) ${quantizationEffect.toExponential(2)}`,
    );
    // llama.cpp decodes pillow's Q4_K blocks to the values pillow decodes: its f32 path on them is
    // pillow's dequantized model (measured 9.8e-7)...
    expect(relativeError(theirsF32, oursF32)).toBeLessThan(1e-5);
    // ...and with the blocks kept pillow rounds x to Q8_K as llama.cpp does, so the two agree to
    // float rounding (measured 1.0e-6 overall, 4 Dec 2026, the 2-core Intel Xeon host), far inside
    // llama.cpp's own distance from its f32 path (1.5e-2: the rounding of x).
    expect(gap).toBeLessThan(1e-3);
    expect(rowGaps.filter((g) => g > 1e-5).length).toBeLessThanOrEqual(2);
    expect(gap).toBeLessThan(ownGap / 2);
    // The check has teeth: quantizing moves the logits further than the two programs differ.
    expect(quantizationEffect).toBeGreaterThan(gap);
    const prompt = tokens.subarray(0, 8);
    const generated = await model.generate(prompt, { maxNewTokens: 32, temperature: 0, ignoreEos: true });
    model.dispose();
    expect(Array.from(generated.tokens)).toEqual(await llamaCppGreedy(file, prompt, 32));
  });
});

/** Random block bytes with each f16 scale field (at `scaleOffsets` in every block) a finite value of about 0.01. */
function randomBlocks(blocks: number, blockBytes: number, scaleOffsets: number[], seed: number): Uint8Array {
  const bytes = new Uint8Array(blocks * blockBytes);
  let state = seed >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    bytes[i] = state >>> 24;
  }
  for (let block = 0; block < blocks; block++) {
    for (const offset of scaleOffsets) {
      // f16 exponent 8 (2^-7) with a random mantissa: 0.0078 … 0.0156.
      const bits = 0x2000 | ((bytes[block * blockBytes + offset] & 0x3) << 8) | bytes[block * blockBytes + offset + 1];
      bytes[block * blockBytes + offset] = bits & 0xff;
      bytes[block * blockBytes + offset + 1] = bits >> 8;
    }
  }
  return bytes;
}

describe("a tied model on the quantized GGUFs pillow writes: its output layer multiplies token_embd's blocks as llama.cpp's does", () => {
  // Tied embeddings, unit RMSNorm weights, hidden 256 (Q4_K super-blocks). pillow keeps token_embd as
  // blocks, so the output layer multiplies them with x rounded, as llama.cpp does; with an f32 copy
  // (before, 4 Dec 2026) every position sat 3e-3 to 6e-3 from llama.cpp's logits. Both decode one
  // token a step. Position 0 attends to itself alone (its attention output is its own v exactly), so
  // nothing there differs but float rounding. Later positions mix v rows, whose last bits differ
  // between the two programs' attention, and a value that lands within those bits of a half-code is
  // rounded to neighbouring Q8_0 codes: measured here, all 23 positions within 4e-7 on Q4_0 and Q4_K,
  // and on Q8_0 20 of them 3.5e-3 to 9.7e-3 apart (positions 0-2 and 19 within 1.4e-7), on the
  // 2-core Intel Xeon host.
  for (const dtype of ["q8_0", "q4_0", "q4_k"] as const) {
    it(`position 0 agrees within 1e-5 and greedy text is the same for 32 tokens (${dtype})`, async () => {
      const hf = createGqaTestModel(dir, { name: "hf-tied", wide: true, tied: true });
      const file = path.join(dir, `model-tied-${dtype}.gguf`);
      exportModelToGguf(hf, file, { dtype });
      const model = await loadModel(file, { threads: 2 });
      const ours = await decodePathLogits(model, tokens);
      const runner = await openLlamaCppModel(file, { threads: 2, contextSize: 64, batchSize: 64, exact: true });
      let theirs: Float32Array;
      let theirGreedy: number[];
      const prompt = tokens.subarray(0, 8);
      try {
        theirs = await llamaCppStepLogits(runner, tokens, vocab);
        theirGreedy = await llamaCppGreedyTokens(runner, prompt, 32);
      } finally {
        await runner.dispose();
      }
      const rowGaps = Array.from({ length: tokens.length }, (_, p) =>
        relativeError(theirs.subarray(p * vocab, (p + 1) * vocab), ours.subarray(p * vocab, (p + 1) * vocab)),
      );
      console.log(`tied ${dtype}: decode-path gaps per position ${rowGaps.map((g) => g.toExponential(1)).join(" ")}`);
      expect(rowGaps[0]).toBeLessThan(1e-5);
      const generated = await model.generate(prompt, { maxNewTokens: 32, temperature: 0, ignoreEos: true });
      expect(Array.from(generated.tokens)).toEqual(theirGreedy);
      model.dispose();
    });
  }
});

describe("llama.cpp's own dequantization of the blocks pillow reads", () => {
  // Zero layers (q, k, v, o, gate, up, down all 0) leave each position's hidden state equal to its
  // token's embedding row, which llama.cpp reads with get_rows — its dequantize_row_* into f32, no
  // activation quantization — and an F32 output layer keeps the rest exact. So llama.cpp's logits
  // equal pillow's to f32 rounding exactly when both decode every block of token_embd alike.
  // Q8_0 / Q4_0: the blocks pillow's quantizer writes; Q4_K / Q5_K / Q6_K (the blocks of "Q4_K_M" and
  // "Q5_K_M" downloads, which pillow reads but does not write): random bytes.
  const cases = [
    { label: "q8_0", type: GgmlType.Q8_0, hidden: 64, raw: undefined },
    { label: "q4_0", type: GgmlType.Q4_0, hidden: 64, raw: undefined },
    { label: "q4_k", type: GgmlType.Q4_K, hidden: 256, raw: { blockBytes: 144, scales: [0, 2] } },
    { label: "q5_k", type: GgmlType.Q5_K, hidden: 256, raw: { blockBytes: 176, scales: [0, 2] } },
    { label: "q6_k", type: GgmlType.Q6_K, hidden: 256, raw: { blockBytes: 210, scales: [208] } },
  ];
  for (const { label, type, hidden, raw } of cases) {
    it(`decodes every block of a ${label} token embedding to the same values as pillow (logits within 1e-5)`, async () => {
      const file = path.join(dir, `embedding-${label}.gguf`);
      const wave = (count: number, scale: number, seed: number) =>
        Float32Array.from({ length: count }, (_, i) => Math.sin(i * 0.37 + seed) * scale * (1 + (i % 5)));
      const embedding = raw
        ? () => randomBlocks((vocab * hidden) / 256, raw.blockBytes, raw.scales, 17)
        : () => wave(vocab * hidden, 0.5, 1);
      // Layer matrices are all zero: in the embedding's type where pillow can write it, else F32.
      const layerType = raw ? GgmlType.F32 : type;
      const zeros = (name: string, shape: number[]): PlannedTensor => ({
        name,
        shape,
        type: layerType,
        produce: () => new Float32Array(shape[0] * shape[1]),
      });
      const tensors: PlannedTensor[] = [
        { name: "token_embd.weight", shape: [vocab, hidden], type, produce: embedding },
        {
          name: "output_norm.weight",
          shape: [hidden],
          type: GgmlType.F32,
          produce: () => wave(hidden, 0.3, 2).map((v) => 1 + v),
        },
        {
          name: "output.weight",
          shape: [vocab, hidden],
          type: GgmlType.F32,
          produce: () => wave(vocab * hidden, 0.2, 3),
        },
        {
          name: "blk.0.attn_norm.weight",
          shape: [hidden],
          type: GgmlType.F32,
          produce: () => new Float32Array(hidden).fill(1),
        },
        {
          name: "blk.0.ffn_norm.weight",
          shape: [hidden],
          type: GgmlType.F32,
          produce: () => new Float32Array(hidden).fill(1),
        },
        ...["attn_q", "attn_k", "attn_v", "attn_output"].map((name) => zeros(`blk.0.${name}.weight`, [hidden, hidden])),
        zeros("blk.0.ffn_gate.weight", [128, hidden]),
        zeros("blk.0.ffn_up.weight", [128, hidden]),
        zeros("blk.0.ffn_down.weight", [hidden, 128]),
      ];
      const u32 = (value: number): GgufValue => ({ type: "u32", value });
      writeGgufFile(
        file,
        [
          ["general.architecture", { type: "string", value: "llama" }],
          ["llama.context_length", u32(512)],
          ["llama.embedding_length", u32(hidden)],
          ["llama.block_count", u32(1)],
          ["llama.feed_forward_length", u32(128)],
          ["llama.rope.dimension_count", u32(hidden / 4)],
          ["llama.attention.head_count", u32(4)],
          ["llama.attention.head_count_kv", u32(4)],
          ["llama.attention.layer_norm_rms_epsilon", { type: "f32", value: 1e-5 }],
          ["general.alignment", u32(32)],
          ["tokenizer.ggml.model", { type: "string", value: "gpt2" }],
          [
            "tokenizer.ggml.tokens",
            { type: "array", itemType: "string", value: Array.from({ length: vocab }, (_, i) => `t${i}`) },
          ],
          ["tokenizer.ggml.merges", { type: "array", itemType: "string", value: [] }],
        ],
        tensors,
      );
      const model = await loadModel(file, { threads: 2 });
      // Every token once (each row of the embedding), in 3 prompts of 100.
      for (let start = 0; start < vocab; start += 100) {
        const prompt = Int32Array.from({ length: 100 }, (_, i) => start + i);
        const expected = await model.forward(prompt);
        const runner = await openLlamaCppModel(file, { threads: 2, contextSize: 128, batchSize: 128, exact: true });
        try {
          expect(relativeError(await llamaCppLogits(runner, prompt, vocab), expected)).toBeLessThan(1e-5);
        } finally {
          await runner.dispose();
        }
      }
      model.dispose();
    });
  }
});

/** A small SentencePiece-style vocabulary: specials, 256 byte tokens, characters and BPE merges learnt on a corpus. */
function sentencePieceVocabulary(): { tokens: string[]; scores: number[]; types: number[] } {
  const tokens = ["<unk>", "<s>", "</s>"];
  const types: number[] = [GgufTokenType.UNKNOWN, GgufTokenType.CONTROL, GgufTokenType.CONTROL];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    types.push(GgufTokenType.BYTE);
  }
  const scores = tokens.map(() => 0);
  const corpus =
    "the quick brown fox jumps over the lazy dog. hello world, hello there; the world is wide and the fox is quick.";
  const words = corpus.split(" ").map((word) => Array.from(`▁${word}`));
  let score = -1;
  for (const character of new Set(words.flat())) {
    tokens.push(character);
    scores.push(score--);
    types.push(GgufTokenType.NORMAL);
  }
  // Greedy BPE: merge the most frequent adjacent pair 120 times; later merges score lower.
  for (let merge = 0; merge < 120; merge++) {
    const counts = new Map<string, number>();
    for (const word of words)
      for (let i = 0; i + 1 < word.length; i++)
        counts.set(`${word[i]}\u0000${word[i + 1]}`, (counts.get(`${word[i]}\u0000${word[i + 1]}`) ?? 0) + 1);
    const best = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0];
    if (!best) break;
    const [left, right] = best[0].split("\u0000");
    for (const word of words) {
      for (let i = 0; i + 1 < word.length; i++)
        if (word[i] === left && word[i + 1] === right) word.splice(i, 2, left + right);
    }
    if (!tokens.includes(left + right)) {
      tokens.push(left + right);
      scores.push(score--);
      types.push(GgufTokenType.NORMAL);
    }
  }
  return { tokens, scores, types };
}

/** A llama-architecture GGUF with random weights and the given tokenizer keys (no tokenizer.json exists for it). */
function writeModelWithTokenizer(file: string, tokenizer: [string, GgufValue][], vocabSize: number): void {
  const config = parseModelConfig(
    {
      architectures: ["LlamaForCausalLM"],
      hidden_size: 32,
      intermediate_size: 64,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      vocab_size: vocabSize,
      rms_norm_eps: 1e-5,
    },
    "spm/config.json",
  );
  const shapes: Record<string, number[]> = {
    "model.embed_tokens.weight": [vocabSize, 32],
    "model.norm.weight": [32],
    "model.layers.0.input_layernorm.weight": [32],
    "model.layers.0.post_attention_layernorm.weight": [32],
    "model.layers.0.self_attn.q_proj.weight": [32, 32],
    "model.layers.0.self_attn.k_proj.weight": [32, 32],
    "model.layers.0.self_attn.v_proj.weight": [32, 32],
    "model.layers.0.self_attn.o_proj.weight": [32, 32],
    "model.layers.0.mlp.gate_proj.weight": [64, 32],
    "model.layers.0.mlp.up_proj.weight": [64, 32],
    "model.layers.0.mlp.down_proj.weight": [32, 64],
  };
  const tensors: PlannedTensor[] = Object.entries(shapes).map(([name, shape]) => ({
    name: ggufTensorName(name) as string,
    shape,
    type: GgmlType.F32,
    produce: () => Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i) * 0.1),
  }));
  const u32 = (value: number): GgufValue => ({ type: "u32", value });
  writeGgufFile(
    file,
    [
      ["general.architecture", { type: "string", value: "llama" }],
      ["llama.context_length", u32(128)],
      ["llama.embedding_length", u32(config.hiddenSize)],
      ["llama.block_count", u32(1)],
      ["llama.feed_forward_length", u32(64)],
      ["llama.rope.dimension_count", u32(16)],
      ["llama.attention.head_count", u32(2)],
      ["llama.attention.head_count_kv", u32(2)],
      ["llama.attention.layer_norm_rms_epsilon", { type: "f32", value: 1e-5 }],
      ["general.alignment", u32(32)],
      ...tokenizer,
    ],
    tensors,
  );
}

async function compareTokenization(file: string, texts: string[]): Promise<void> {
  const model = await loadModel(file, { threads: 2 });
  const llama = await openLlamaCpp();
  const theirs = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
  try {
    for (const text of texts) {
      const expected = Array.from(theirs.tokenize(text));
      expect(Array.from(model.tokenizer!.encode(text, { addSpecialTokens: false })), JSON.stringify(text)).toEqual(
        expected,
      );
      expect(model.tokenizer!.decode(expected), JSON.stringify(text)).toBe(theirs.detokenize(expected as Token[]));
    }
  } finally {
    await theirs.dispose();
    model.dispose();
  }
}

const TEXTS = [
  "hello world",
  "the quick brown fox jumps over the lazy dog.",
  "Hello  there,   world! 12345 héllo wörld 👋 — naïve café",
  "tabs\tand\nnew lines\n\n  indented",
  "the fox's dog isn't quick; they're wide",
];

describe("the tokenizer pillow builds from tokenizer.ggml.* splits text as llama.cpp does", () => {
  it('SentencePiece ("llama": scores, byte fallback, ▁ prefix)', async () => {
    const { tokens, scores, types } = sentencePieceVocabulary();
    const file = path.join(dir, "spm.gguf");
    writeModelWithTokenizer(
      file,
      [
        ["tokenizer.ggml.model", { type: "string", value: "llama" }],
        ["tokenizer.ggml.tokens", { type: "array", itemType: "string", value: tokens }],
        ["tokenizer.ggml.scores", { type: "array", itemType: "f32", value: scores }],
        ["tokenizer.ggml.token_type", { type: "array", itemType: "i32", value: types }],
        ["tokenizer.ggml.bos_token_id", { type: "u32", value: 1 }],
        ["tokenizer.ggml.eos_token_id", { type: "u32", value: 2 }],
        ["tokenizer.ggml.unknown_token_id", { type: "u32", value: 0 }],
      ],
      tokens.length,
    );
    // The merges must matter: pieces longer than one character appear.
    const model = await loadModel(file, { threads: 2 });
    const ids = model.tokenizer!.encode("hello world", { addSpecialTokens: false });
    expect(ids.length).toBeLessThan(5);
    expect(Array.from(model.tokenizer!.encode("hi")).at(0)).toBe(1); // BOS by default, as llama.cpp's SentencePiece
    model.dispose();
    await compareTokenization(file, TEXTS);
  });

  for (const pre of ["default", "gpt-2", "llama-bpe", "qwen2"]) {
    it(`byte-level BPE ("gpt2", pre-tokenizer ${pre}) with merges`, async () => {
      const tokenizerJson = byteTokenizerJson() as { model: { vocab: Record<string, number>; merges: string[] } };
      // Merges over GPT-2's byte alphabet (Ġ is a space); ids continue after the 259 byte/special tokens.
      const merges = [
        "h e",
        "l l",
        "he ll",
        "hell o",
        "Ġ w",
        "o r",
        "Ġw or",
        "Ġwor l",
        "Ġworl d",
        "Ġ t",
        "Ġt he",
        "Ġ f",
        "Ġf o",
        "Ġfo x",
        "1 2",
        "12 3",
        "' s",
        "Ġ Ġ",
      ];
      let next = 259;
      for (const merge of merges) tokenizerJson.model.vocab[merge.replace(" ", "")] = next++;
      tokenizerJson.model.merges = merges;
      const file = path.join(dir, `bpe-${pre}.gguf`);
      const config = parseModelConfig(
        {
          architectures: ["LlamaForCausalLM"],
          hidden_size: 32,
          intermediate_size: 64,
          num_hidden_layers: 1,
          num_attention_heads: 2,
          vocab_size: next,
          rms_norm_eps: 1e-5,
        },
        "bpe/config.json",
      );
      const weights: Record<string, { shape: number[]; data: Float32Array }> = {};
      const shape = (name: string, dims: number[]) => {
        weights[name] = {
          shape: dims,
          data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => Math.cos(i) * 0.1),
        };
      };
      shape("model.embed_tokens.weight", [next, 32]);
      shape("model.norm.weight", [32]);
      for (const name of ["input_layernorm", "post_attention_layernorm"]) shape(`model.layers.0.${name}.weight`, [32]);
      for (const name of ["q", "k", "v", "o"]) shape(`model.layers.0.self_attn.${name}_proj.weight`, [32, 32]);
      shape("model.layers.0.mlp.gate_proj.weight", [64, 32]);
      shape("model.layers.0.mlp.up_proj.weight", [64, 32]);
      shape("model.layers.0.mlp.down_proj.weight", [32, 64]);
      writeGguf(file, {
        config: { ...config, tieWordEmbeddings: true },
        tokenizerJson,
        tokenizerConfig: { bos_token: "<s>", eos_token: "</s>" },
        tensors: weights,
        tokenizerPre: pre,
      });
      await compareTokenization(file, TEXTS);
    });
  }
});
