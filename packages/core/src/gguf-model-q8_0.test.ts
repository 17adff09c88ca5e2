// A Q8_0 GGUF loaded with its linear weights kept as blocks (quantized: "keep", the CPU default)
// against the same file dequantized into f32 (quantized: "dequantize"): the same weight values, but
// the kept model multiplies them with activations rounded to Q8_0, as llama.cpp's CPU backend does
// (int8 dot products in decode, x rounded before the GEMMs in prefill and training), so the two
// differ by that rounding: ~1e-2 of the largest logit on this tiny model (initStd 0.1), which
// llama.cpp itself shows (@pillow/bench's llama-cpp-gguf-import test holds the kept model to
// llama.cpp's logits on the same file). Decode and prefill of the kept model round x alike and
// agree to f32 summation order.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { KernelError, loadAddon } from "@pillow/lora-kernels";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseModelConfig } from "./config.js";
import { exportModelToGguf } from "./gguf.js";
import { GGML_TYPES } from "./gguf-format.js";
import { readGguf } from "./gguf-reader.js";
import { loadModel } from "./load-model.js";
import type { Model } from "./model.js";
import { nativeConfig } from "./native-config.js";
import { dequantizeQ8_0, quantizeQ8_0 } from "./quantized-blocks.js";
import { relativeError } from "./test-relative-error.js";
import { createTinyModel } from "./tiny-model.js";

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-gguf-q8_0-"));
const file = path.join(scratch, "tiny-q8_0.gguf");
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

const ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const;

beforeAll(() => {
  const hf = path.join(scratch, "tiny");
  // Untied, so the output layer is a Q8_0 matrix too; GQA, so q and k are unpermuted with different head counts.
  createTinyModel(hf, { tieWordEmbeddings: false, numKeyValueHeads: 2, seed: 5, initStd: 0.1 });
  exportModelToGguf(hf, file, { dtype: "q8_0" });
});

async function both(): Promise<[Model, Model]> {
  return [
    await loadModel(file, { threads: 2, quantized: "keep" }),
    await loadModel(file, { threads: 2, quantized: "dequantize" }),
  ];
}

describe('loadModel on a Q8_0 GGUF with quantized: "keep"', () => {
  it("keeps the linear weights as the file's blocks and is the default on the CPU", async () => {
    const types = new Set(readGguf(file).tensors.map((t) => GGML_TYPES[t.type].name));
    expect(types.has("Q8_0")).toBe(true);
    const [kept, dequantized] = await both();
    const byDefault = await loadModel(file, { threads: 2 });
    for (const name of kept.native.tensorNames()) {
      // getTensor dequantizes kept blocks: the same values as the f32 model's.
      expect(kept.native.getTensor(name), name).toEqual(dequantized.native.getTensor(name));
    }
    // The default is keep: its one-token logits are the kept model's, bit for bit (same kernel).
    const prompt = Int32Array.of(72);
    expect(await byDefault.forward(prompt)).toEqual(await kept.forward(prompt));
    for (const model of [kept, dequantized, byDefault]) model.dispose();
  });

  it("logits: decode (GEMV) and prefill (GEMM) round x alike; the dequantized model's within the rounding", async () => {
    const [kept, dequantized] = await both();
    const vocab = kept.config.vocabSize;
    const long = Int32Array.from({ length: 40 }, (_, i) => (i * 37 + 5) % 256);
    const prefill = await kept.forward(long); // 40 rows: the GEMM over x rounded to Q8_0
    for (const length of [1, 3, 40]) {
      const tokens = long.subarray(0, length);
      const actual = await kept.forward(tokens);
      const expected = await dequantized.forward(tokens);
      const error = relativeError(actual, expected);
      // Rounding x to Q8_0 (8 bits per value, a scale per 32) moves the logits, but not far.
      expect(error, `${length} tokens`).toBeLessThan(5e-2);
      expect(error, `${length} tokens`).toBeGreaterThan(1e-4);
      // Causal: the first `length` positions of the 40-token prefill are these tokens' logits. With
      // 1 or 3 tokens they come from the int8 GEMV, the 40-row ones from the GEMM: the same rounded
      // x and weights, summed in other orders.
      const gemmRows = prefill.subarray(0, length * vocab);
      expect(relativeError(actual, gemmRows), `${length} tokens vs prefill`).toBeLessThan(1e-5);
    }
    kept.dispose();
    dequantized.dispose();
  });

  it("greedy text is identical for 32 tokens (KV-cache decode through the Q8_0 GEMV)", async () => {
    const [kept, dequantized] = await both();
    const options = { maxNewTokens: 32, temperature: 0, stop: [] as string[] };
    const a = await kept.generate("Hello, pillow", options);
    const b = await dequantized.generate("Hello, pillow", options);
    expect(a.tokens.length).toBe(32);
    expect(Array.from(a.tokens)).toEqual(Array.from(b.tokens));
    expect(a.text).toBe(b.text);
    kept.dispose();
    dequantized.dispose();
  });

  it("LoRA lossAndGrad over the frozen Q8_0 base: the dequantized base's loss and gradients, up to x's rounding", async () => {
    const [kept, dequantized] = await both();
    // B starts at zero (PEFT); nonzero B factors make the LoRA term live, so both factors carry gradient.
    const config = kept.config;
    for (const model of [kept, dequantized]) {
      model.addAdapter("task", { r: 4, alpha: 8, targetModules: [...ALL], seed: 3 });
      model.setActiveAdapter("task");
      for (let layer = 0; layer < config.numLayers; layer++) {
        for (const module of ALL) {
          const b = model.native.getAdapterTensor("task", layer, module, "B");
          model.native.setAdapterTensor(
            "task",
            layer,
            module,
            "B",
            b.map((_, i) => ((i % 7) - 3) * 0.01),
          );
        }
      }
    }
    const tokens = Int32Array.from({ length: 24 }, (_, i) => 3 + ((i * 7) % 200));
    const labels = tokens.slice();
    const a = await kept.lossAndGrad({ tokens, labels });
    const b = await dequantized.lossAndGrad({ tokens, labels });
    const lossGap = Math.abs(a.loss - b.loss) / Math.abs(b.loss);
    let gradGap = 0;
    expect(Object.keys(a.grads).sort()).toEqual(Object.keys(b.grads).sort());
    for (const [name, grad] of Object.entries(b.grads)) gradGap = Math.max(gradGap, relativeError(a.grads[name], grad));
    console.log(
      `Q8_0 LoRA lossAndGrad vs dequantized: loss ${lossGap.toExponential(2)}, grads ${gradGap.toExponential(2)}`,
    );
    // The base products see x rounded to Q8_0 (backward: dX = dY·W, straight through the rounding);
    // measured 6.2e-4 (loss) and 4.1e-2 (the worst gradient tensor, relative to its largest entry).
    expect(lossGap).toBeLessThan(1e-2);
    expect(gradGap).toBeLessThan(1e-1);
    kept.dispose();
    dequantized.dispose();
  });

  it("continuous batching (forwardSequences) gives each sequence's own forward logits", async () => {
    const [kept, dequantized] = await both();
    const vocab = kept.config.vocabSize;
    const run = async (model: Model) => {
      const first = model.native.createSequence(32);
      const second = model.native.createSequence(32);
      const prefill = await model.native.forwardSequences(Int32Array.of(10, 20, 30, 40, 50, 60, 70), [
        { sequence: first, start: 0, count: 5 },
        { sequence: second, start: 0, count: 2 },
      ]);
      const decode = await model.native.forwardSequences(Int32Array.of(11, 12), [
        { sequence: first, start: 5, count: 1 },
        { sequence: second, start: 2, count: 1 },
      ]);
      return [prefill, decode];
    };
    const [a, b] = [await run(kept), await run(dequantized)];
    // Each row against the kept model's forward of that sequence alone (its last position): the
    // same x rounded to Q8_0, the GEMV or the GEMM summing in its own order.
    const last = async (tokens: number[]) => (await kept.forward(Int32Array.from(tokens))).slice(-vocab);
    const rows = [
      [a[0].subarray(0, vocab), await last([10, 20, 30, 40, 50])],
      [a[0].subarray(vocab), await last([60, 70])],
      [a[1].subarray(0, vocab), await last([10, 20, 30, 40, 50, 11])],
      [a[1].subarray(vocab), await last([60, 70, 12])],
    ];
    for (const [i, [actual, expected]] of rows.entries())
      expect(relativeError(actual, expected), `row ${i}`).toBeLessThan(1e-5);
    // And the dequantized model's, up to x's rounding.
    expect(relativeError(a[0], b[0])).toBeLessThan(5e-2);
    expect(relativeError(a[1], b[1])).toBeLessThan(5e-2);
    kept.dispose();
    dequantized.dispose();
  });

  it("full training needs the dequantized base, and names the q8_0 tensor", async () => {
    const kept = await loadModel(file, { threads: 2 });
    const tokens = Int32Array.of(1, 2, 3, 4);
    await expect(kept.lossAndGrad({ tokens, labels: tokens, mode: "full" })).rejects.toThrow(/stored in q8_0/);
    kept.dispose();
  });

  it("rejects a bad quantized option", async () => {
    await expect(loadModel(file, { quantized: "sometimes" as never })).rejects.toMatchObject({ code: "E_ARGUMENT" });
  });
});

describe('setTensor(name, blocks, "q8_0") checks its arguments', () => {
  const model = () =>
    new (loadAddon().LlamaModel)(
      nativeConfig(
        parseModelConfig(
          {
            architectures: ["LlamaForCausalLM"],
            hidden_size: 48,
            intermediate_size: 64,
            num_hidden_layers: 1,
            num_attention_heads: 4,
            num_key_value_heads: 4,
            vocab_size: 300,
            rms_norm_eps: 1e-5,
            tie_word_embeddings: false,
          },
          "test/config.json",
        ),
      ),
      { device: "cpu" },
    );
  const blocksFor = (rows: number, columns: number) => quantizeQ8_0(new Float32Array(rows * columns).fill(0.5));

  it("accepts the right bytes and reads them back dequantized", () => {
    const native = model();
    // down_proj is [48, 64]: in = 64 is two blocks per row.
    const values = Float32Array.from({ length: 48 * 64 }, (_, i) => Math.sin(i) * (1 + (i % 97)));
    const blocks = quantizeQ8_0(values);
    native.setTensor("model.layers.0.mlp.down_proj.weight", blocks, "q8_0");
    // The TypeScript decoder (quantized-blocks.ts) is the reference for the native one.
    expect(native.getTensor("model.layers.0.mlp.down_proj.weight")).toEqual(dequantizeQ8_0(blocks, values.length));
  });

  it("a wrong byte length, inputs not a multiple of 32, a non-linear tensor, a non-Uint8Array", () => {
    const native = model();
    const down = "model.layers.0.mlp.down_proj.weight";
    const call = (name: string, data: unknown) => () => native.setTensor(name, data as Uint8Array, "q8_0");
    const error = (code: string, message: RegExp) =>
      expect.objectContaining({ code, message: expect.stringMatching(message) });
    expect(call(down, blocksFor(48, 64).subarray(1))).toThrow(KernelError);
    expect(call(down, blocksFor(48, 64).subarray(1))).toThrow(
      error("E_SHAPE", /down_proj\.weight" in q8_0 has 3263 bytes, expected 3264/),
    );
    // q_proj is [48, 48]: 48 inputs are not whole blocks.
    expect(call("model.layers.0.self_attn.q_proj.weight", new Uint8Array(48 * 34))).toThrow(
      error("E_SHAPE", /q_proj\.weight" cannot be stored in q8_0: its 48 inputs are not a multiple of 32/),
    );
    expect(call("model.norm.weight", new Uint8Array(34))).toThrow(error("E_ARGUMENT", /only the linear weights/));
    expect(call(down, new Float32Array(48 * 64))).toThrow(error("E_TYPE", /must be a Uint8Array of Q8_0 blocks/));
  });
});
