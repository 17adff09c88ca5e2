// A Q4_K GGUF (pillow's own quantizer, every matrix's rows whole 256-value super-blocks) loaded with
// its linear weights kept as blocks (quantized: "keep", the CPU default) against the same file
// dequantized into f32 (quantized: "dequantize"): the same weight values (144 bytes per 256 weights),
// but the kept model multiplies them with activations rounded to Q8_K (256 values per f32 scale), as
// llama.cpp's CPU backend does for Q4_K (vec_dot_q4_K_q8_K: integer dot products per 32-value
// sub-block in decode, x rounded before the GEMMs in prefill and training), so the two differ by that
// rounding; @pillow/bench's llama-cpp-gguf-import test holds the kept model to llama.cpp's logits on
// the same file. Decode and prefill of the kept model round x alike and agree to f32 summation order.

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
import { dequantizeQ4_K, quantizeQ4_K } from "./k-quant-blocks.js";
import { relativeError } from "./test-relative-error.js";
import { createTinyModel } from "./tiny-model.js";

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-gguf-q4_k-"));
const file = path.join(scratch, "tiny-q4_k.gguf");
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

const ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const;

beforeAll(() => {
  const hf = path.join(scratch, "tiny");
  // Hidden 256 and intermediate 512, so every matrix is Q4_K; untied, so the output layer is one too;
  // GQA, so q and k are unpermuted with different head counts.
  createTinyModel(hf, {
    hiddenSize: 256,
    intermediateSize: 512,
    tieWordEmbeddings: false,
    numKeyValueHeads: 2,
    seed: 5,
    initStd: 0.05,
  });
  exportModelToGguf(hf, file, { dtype: "q4_k" });
});

async function both(): Promise<[Model, Model]> {
  return [
    await loadModel(file, { threads: 2, quantized: "keep" }),
    await loadModel(file, { threads: 2, quantized: "dequantize" }),
  ];
}

describe('loadModel on a Q4_K GGUF with quantized: "keep"', () => {
  it("keeps the linear weights as the file's blocks and is the default on the CPU", async () => {
    const gguf = readGguf(file);
    const matrixTypes = new Set(gguf.tensors.filter((t) => t.dims.length === 2).map((t) => GGML_TYPES[t.type].name));
    expect([...matrixTypes]).toEqual(["Q4_K"]);
    const [kept, dequantized] = await both();
    const byDefault = await loadModel(file, { threads: 2 });
    for (const name of kept.native.tensorNames()) {
      // getTensor dequantizes kept blocks (after the q/k row un-permutation): the f32 model's values.
      expect(kept.native.getTensor(name), name).toEqual(dequantized.native.getTensor(name));
    }
    // The blocks really are kept: full training refuses them, naming the type (the f32 model does not).
    const tokens = Int32Array.of(1, 2, 3, 4);
    await expect(kept.lossAndGrad({ tokens, labels: tokens, mode: "full" })).rejects.toThrow(/stored in q4_k/);
    // The default is keep: its one-token logits are the kept model's, bit for bit (same kernel), and
    // not the dequantized model's (x is rounded to Q8_K for the products).
    const prompt = Int32Array.of(72);
    const keptLogits = await kept.forward(prompt);
    expect(await byDefault.forward(prompt)).toEqual(keptLogits);
    expect(await dequantized.forward(prompt)).not.toEqual(keptLogits);
    for (const model of [kept, dequantized, byDefault]) model.dispose();
  });

  it("logits: decode (GEMV) and prefill (GEMM) round x alike; the dequantized model's within the rounding", async () => {
    const [kept, dequantized] = await both();
    const vocab = kept.config.vocabSize;
    const long = Int32Array.from({ length: 40 }, (_, i) => (i * 37 + 5) % 256);
    const prefill = await kept.forward(long); // 40 rows: the GEMM over x rounded to Q8_K
    const errors: string[] = [];
    for (const length of [1, 3, 40]) {
      const tokens = long.subarray(0, length);
      const actual = await kept.forward(tokens);
      const expected = await dequantized.forward(tokens);
      const error = relativeError(actual, expected);
      errors.push(`${length} tokens ${error.toExponential(2)}`);
      // Rounding x to Q8_K (8 bits per value, one scale per 256) moves the logits, but not far: the
      // bound the Q8_0 and Q4_0 models are held to (measured 2.2e-2, 2.3e-2 and 3.2e-2 for 1, 3 and
      // 40 tokens).
      expect(error, `${length} tokens`).toBeLessThan(5e-2);
      expect(error, `${length} tokens`).toBeGreaterThan(1e-4);
      // Causal: the first `length` positions of the 40-token prefill are these tokens' logits. With
      // 1 or 3 tokens they come from the Q4_K GEMV, the 40-row ones from the GEMM: the same rounded
      // x and weights, summed in other orders.
      const gemmRows = prefill.subarray(0, length * vocab);
      expect(relativeError(actual, gemmRows), `${length} tokens vs prefill`).toBeLessThan(1e-5);
    }
    console.log(`Q4_K kept vs dequantized logits: ${errors.join(", ")}`);
    kept.dispose();
    dequantized.dispose();
  });

  it("greedy decode (KV cache, Q4_K GEMV) follows the model's own prefill; the dequantized model's picks up to near-ties", async () => {
    const [kept, dequantized] = await both();
    const options = { maxNewTokens: 32, temperature: 0, stop: [] as string[] };
    const generated = (await kept.generate("Hello, pillow", options)).tokens;
    expect(generated.length).toBe(32);
    // Every step's logits, teacher-forced in one prefill (the GEMM) of prompt + generated tokens.
    const prompt = kept.tokenizer!.encode("Hello, pillow");
    const sequence = Int32Array.from([...prompt, ...generated]);
    const vocab = kept.config.vocabSize;
    const own = await kept.forward(sequence);
    const reference = await dequantized.forward(sequence);
    const largest = reference.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    let agreed = 0;
    let worstGap = 0;
    for (let k = 0; k < generated.length; k++) {
      const row = (logits: Float32Array) =>
        logits.subarray((prompt.length - 1 + k) * vocab, (prompt.length + k) * vocab);
      // The kept model's greedy token is the argmax of its own prefill logits (decode and prefill agree).
      const mine = row(own);
      expect(mine[generated[k]], `step ${k}`).toBe(Math.max(...mine));
      const theirs = row(reference);
      const gap = (Math.max(...theirs) - theirs[generated[k]]) / largest;
      if (gap === 0) agreed++;
      worstGap = Math.max(worstGap, gap);
    }
    console.log(
      `Q4_K greedy: ${agreed} of 32 steps the dequantized model's argmax, worst gap ${worstGap.toExponential(2)}`,
    );
    // Not "identical text" as for Q8_0: as on the Q4_0 model, rounding x moves the logits by ~2e-2
    // of the largest, more than the gap between the top two at a near-tie, and one flip changes the
    // rest of the text. So: most steps are the dequantized model's own argmax (measured 29 of 32),
    // and where they are not the kept token is within a small fraction of the largest logit of it
    // (measured 5.5e-3).
    expect(agreed).toBeGreaterThanOrEqual(28);
    expect(worstGap).toBeLessThan(1e-2);
    kept.dispose();
    dequantized.dispose();
  });

  it("LoRA lossAndGrad over the frozen Q4_K base: the dequantized base's loss and gradients, up to x's rounding", async () => {
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
      `Q4_K LoRA lossAndGrad vs dequantized: loss ${lossGap.toExponential(2)}, grads ${gradGap.toExponential(2)}`,
    );
    // The base products see x rounded to Q8_K (backward: dX = dY·W, straight through the rounding);
    // the Q8_0 model's bounds (measured 3.3e-4 (loss) and 6.5e-2 (the worst gradient tensor,
    // relative to its largest entry)).
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
    // same x rounded to Q8_K, the GEMV or the GEMM summing in its own order.
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
});

describe('setTensor(name, blocks, "q4_k") checks its arguments', () => {
  const model = () =>
    new (loadAddon().LlamaModel)(
      nativeConfig(
        parseModelConfig(
          {
            architectures: ["LlamaForCausalLM"],
            hidden_size: 96,
            intermediate_size: 512,
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

  it("accepts the right bytes and reads them back dequantized", () => {
    const native = model();
    // down_proj is [96, 512]: in = 512 is two super-blocks per row.
    const values = Float32Array.from({ length: 96 * 512 }, (_, i) => Math.sin(i) * (1 + (i % 97)));
    const blocks = quantizeQ4_K(values);
    expect(blocks.length).toBe(96 * 2 * 144);
    native.setTensor("model.layers.0.mlp.down_proj.weight", blocks, "q4_k");
    // The TypeScript decoder (k-quant-blocks.ts, checked bit for bit against llama.cpp) is the reference.
    expect(native.getTensor("model.layers.0.mlp.down_proj.weight")).toEqual(dequantizeQ4_K(blocks, values.length));
  });

  it("a wrong byte length, inputs not a multiple of 256, a non-linear tensor, a non-Uint8Array, a bad storeAs", () => {
    const native = model();
    const down = "model.layers.0.mlp.down_proj.weight";
    const call = (name: string, data: unknown) => () => native.setTensor(name, data as Uint8Array, "q4_k");
    const error = (code: string, message: RegExp) =>
      expect.objectContaining({ code, message: expect.stringMatching(message) });
    const blocks = quantizeQ4_K(new Float32Array(96 * 512).fill(0.5));
    expect(call(down, blocks.subarray(1))).toThrow(KernelError);
    expect(call(down, blocks.subarray(1))).toThrow(
      error("E_SHAPE", /down_proj\.weight" in q4_k has 27647 bytes, expected 27648 \(96 rows x 2 blocks x 144\)/),
    );
    // q_proj is [96, 96]: 96 inputs are whole 32-value blocks but not a 256-value super-block.
    expect(call("model.layers.0.self_attn.q_proj.weight", new Uint8Array(96 * 144))).toThrow(
      error("E_SHAPE", /q_proj\.weight" cannot be stored in q4_k: its 96 inputs are not a multiple of 256/),
    );
    expect(call("model.norm.weight", new Uint8Array(144))).toThrow(
      error("E_ARGUMENT", /norm\.weight" cannot be stored in q4_k: only the linear weights/),
    );
    expect(call(down, new Float32Array(96 * 512))).toThrow(
      error("E_TYPE", /down_proj\.weight" in q4_k must be a Uint8Array of Q4_K blocks/),
    );
    expect(() => native.setTensor(down, blocks, "q5_k" as never)).toThrow(error("E_ARGUMENT", /"q4_k"/));
  });
});
