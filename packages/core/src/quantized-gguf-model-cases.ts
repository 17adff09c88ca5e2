// Test cases shared by core's tests of a quantized GGUF (gguf-model-q8_0, -q4_0 and -q4_k.test.ts)
// loaded with its linear weights kept as blocks (quantized: "keep", the CPU default) against the
// same file dequantized into f32 (quantized: "dequantize"): the same weight values, but the kept
// model multiplies them with activations rounded to Q8_0 (Q8_0 and Q4_0 weights) or Q8_K (Q4_K
// weights), as llama.cpp's CPU backend does (integer dot products in decode, x rounded before the
// GEMMs in prefill and training), so the two differ by that rounding; @pillow/bench's
// llama-cpp-gguf-import test holds the kept model to llama.cpp's logits on the same file. Decode and
// prefill of the kept model round x alike and agree to f32 summation order. The formats share one
// set of bounds; where a format's numbers or cases differ, they live in its entry of
// QUANTIZED_GGUF_FORMATS or in its own test file. Not exported from the package.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadAddon } from "@pillow/lora-kernels";
import { afterAll, beforeAll, expect, it } from "vitest";
import { parseModelConfig } from "./config.js";
import { exportModelToGguf } from "./gguf.js";
import { GGML_TYPES } from "./gguf-format.js";
import { readGguf } from "./gguf-reader.js";
import { loadModel } from "./load-model.js";
import type { Model } from "./model.js";
import { nativeConfig } from "./native-config.js";
import { relativeError } from "./test-relative-error.js";
import { createTinyModel, type TinyModelOptions } from "./tiny-model.js";

export interface QuantizedGgufFormat {
  /** The GGML type name of the file's linear weights, as llama.cpp spells it. */
  type: "Q8_0" | "Q4_0" | "Q4_K";
  /** exportModelToGguf's dtype, and how the native errors name the stored type. */
  dtype: "q8_0" | "q4_0" | "q4_k";
  /** The block type x is rounded to for the products with these weights. */
  rounding: "Q8_0" | "Q8_K";
  /** The tiny model the file is exported from: untied, so the output layer is a quantized matrix too;
   * GQA, so q and k are unpermuted with different head counts. */
  tinyModel: TinyModelOptions;
}

// The measured numbers in the comments are what the cases print (console.log) on each format's file.
export const QUANTIZED_GGUF_FORMATS = {
  // Logits vs dequantized: ~1e-2 of the largest logit on this tiny model (initStd 0.1), which
  // llama.cpp itself shows (measured 1.9e-2, 1.8e-2 and 2.0e-2 for 1, 3 and 40 tokens). LoRA lossAndGrad vs dequantized: measured 6.2e-4 (loss) and 4.1e-2 (the
  // worst gradient tensor, relative to its largest entry). Greedy text is identical for 32 tokens
  // (gguf-model-q8_0.test.ts).
  q8_0: {
    type: "Q8_0",
    dtype: "q8_0",
    rounding: "Q8_0",
    tinyModel: { tieWordEmbeddings: false, numKeyValueHeads: 2, seed: 5, initStd: 0.1 },
  },
  // 18 bytes per 32 weights (an f16 scale and 4-bit codes); x rounded as for Q8_0
  // (vec_dot_q4_0_q8_0). Logits vs dequantized: measured 1.6e-2, 2.3e-2 and 2.8e-2 for 1, 3 and 40
  // tokens. Greedy: 29 of 32 steps the dequantized model's argmax, worst gap 2.3e-3 (the first step's
  // top two logits are 6.7e-4 of the largest logit apart in the dequantized model). LoRA
  // lossAndGrad vs dequantized: measured 1.1e-4 (loss) and 4.8e-2 (the worst gradient tensor).
  q4_0: {
    type: "Q4_0",
    dtype: "q4_0",
    rounding: "Q8_0",
    tinyModel: { tieWordEmbeddings: false, numKeyValueHeads: 2, seed: 5, initStd: 0.1 },
  },
  // pillow's own quantizer, 144 bytes per 256 weights; x rounded to Q8_K, 256 values per f32 scale
  // (vec_dot_q4_K_q8_K: integer dot products per 32-value sub-block). Hidden 256 and intermediate
  // 512, so every matrix's rows are whole 256-value super-blocks. Logits vs dequantized: measured
  // 2.2e-2, 2.3e-2 and 3.2e-2 for 1, 3 and 40 tokens. Greedy: 29 of 32 steps the dequantized model's
  // argmax, worst gap 5.5e-3. LoRA lossAndGrad vs dequantized: measured 3.3e-4 (loss) and 6.5e-2
  // (the worst gradient tensor).
  q4_k: {
    type: "Q4_K",
    dtype: "q4_k",
    rounding: "Q8_K",
    tinyModel: {
      hiddenSize: 256,
      intermediateSize: 512,
      tieWordEmbeddings: false,
      numKeyValueHeads: 2,
      seed: 5,
      initStd: 0.05,
    },
  },
} as const satisfies Record<string, QuantizedGgufFormat>;

export interface QuantizedGguf {
  format: QuantizedGgufFormat;
  /** The exported file (written in beforeAll, removed in afterAll). */
  file: string;
  /** The file loaded twice: its blocks kept, and dequantized into f32. */
  both(): Promise<[Model, Model]>;
}

const ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const;

/** Exports the format's tiny model to a GGUF for the calling test file's cases. */
export function useQuantizedGguf(format: QuantizedGgufFormat): QuantizedGguf {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), `pillow-gguf-${format.dtype}-`));
  const file = path.join(scratch, `tiny-${format.dtype}.gguf`);
  afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));
  beforeAll(() => {
    const hf = path.join(scratch, "tiny");
    createTinyModel(hf, format.tinyModel);
    exportModelToGguf(hf, file, { dtype: format.dtype });
  });
  return {
    format,
    file,
    both: async () => [
      await loadModel(file, { threads: 2, quantized: "keep" }),
      await loadModel(file, { threads: 2, quantized: "dequantize" }),
    ],
  };
}

/** The Q4 formats' first case (Q8_0's checks the tensor types more loosely and full training apart). */
export function itKeepsTheFileBlocksByDefault({ format, file, both }: QuantizedGguf): void {
  it("keeps the linear weights as the file's blocks and is the default on the CPU", async () => {
    const gguf = readGguf(file);
    const matrixTypes = new Set(gguf.tensors.filter((t) => t.dims.length === 2).map((t) => GGML_TYPES[t.type].name));
    expect([...matrixTypes]).toEqual([format.type]);
    const [kept, dequantized] = await both();
    const byDefault = await loadModel(file, { threads: 2 });
    for (const name of kept.native.tensorNames()) {
      // getTensor dequantizes kept blocks (after the q/k row un-permutation): the f32 model's values.
      expect(kept.native.getTensor(name), name).toEqual(dequantized.native.getTensor(name));
    }
    // The blocks really are kept: full training refuses them, naming the type (the f32 model does not).
    const tokens = Int32Array.of(1, 2, 3, 4);
    await expect(kept.lossAndGrad({ tokens, labels: tokens, mode: "full" })).rejects.toThrow(
      new RegExp(`stored in ${format.dtype}`),
    );
    // The default is keep: its one-token logits are the kept model's, bit for bit (same kernel), and
    // not the dequantized model's (x is rounded to the format's rounding for the products).
    const prompt = Int32Array.of(72);
    const keptLogits = await kept.forward(prompt);
    expect(await byDefault.forward(prompt)).toEqual(keptLogits);
    expect(await dequantized.forward(prompt)).not.toEqual(keptLogits);
    for (const model of [kept, dequantized, byDefault]) model.dispose();
  });
}

export function itRoundsXAlikeInDecodeAndPrefill({ format, both }: QuantizedGguf): void {
  it("logits: decode (GEMV) and prefill (GEMM) round x alike; the dequantized model's within the rounding", async () => {
    const [kept, dequantized] = await both();
    const vocab = kept.config.vocabSize;
    const long = Int32Array.from({ length: 40 }, (_, i) => (i * 37 + 5) % 256);
    const prefill = await kept.forward(long); // 40 rows: the GEMM over x rounded to format.rounding
    const errors: string[] = [];
    for (const length of [1, 3, 40]) {
      const tokens = long.subarray(0, length);
      const actual = await kept.forward(tokens);
      const expected = await dequantized.forward(tokens);
      const error = relativeError(actual, expected);
      errors.push(`${length} tokens ${error.toExponential(2)}`);
      // Rounding x to Q8_0 or Q8_K (8 bits per value, a scale per 32 or per 256) moves the logits,
      // but not far: one bound for every format (the measured errors are in QUANTIZED_GGUF_FORMATS).
      expect(error, `${length} tokens`).toBeLessThan(5e-2);
      expect(error, `${length} tokens`).toBeGreaterThan(1e-4);
      // Causal: the first `length` positions of the 40-token prefill are these tokens' logits. With
      // 1 or 3 tokens they come from the format's GEMV (int8 for Q8_0), the 40-row ones from the
      // GEMM: the same rounded x and weights, summed in other orders.
      const gemmRows = prefill.subarray(0, length * vocab);
      expect(relativeError(actual, gemmRows), `${length} tokens vs prefill`).toBeLessThan(1e-5);
    }
    console.log(`${format.type} kept vs dequantized logits: ${errors.join(", ")}`);
    kept.dispose();
    dequantized.dispose();
  });
}

/** The Q4 formats' greedy case (Q8_0's greedy text is identical, gguf-model-q8_0.test.ts). */
export function itFollowsItsOwnPrefillInGreedyDecode({ format, both }: QuantizedGguf): void {
  it(`greedy decode (KV cache, ${format.type} GEMV) follows the model's own prefill; the dequantized model's picks up to near-ties`, async () => {
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
    let ownAgreed = 0;
    let worstOwnGap = 0;
    for (let k = 0; k < generated.length; k++) {
      const row = (logits: Float32Array) =>
        logits.subarray((prompt.length - 1 + k) * vocab, (prompt.length + k) * vocab);
      // The kept model's greedy token is the argmax of its own prefill logits: decode and prefill
      // round x alike and sum in other orders, so they agree to float rounding, but for a rare value
      // within rounding of a half-code, rounded to neighbouring codes (measured 4 Dec 2026: one step
      // of 32 on Q4_K, its token 3.9e-4 of the largest logit below the prefill's top).
      const mine = row(own);
      const ownGap = (Math.max(...mine) - mine[generated[k]]) / largest;
      if (ownGap === 0) ownAgreed++;
      worstOwnGap = Math.max(worstOwnGap, ownGap);
      const theirs = row(reference);
      const gap = (Math.max(...theirs) - theirs[generated[k]]) / largest;
      if (gap === 0) agreed++;
      worstGap = Math.max(worstGap, gap);
    }
    console.log(
      `${format.type} greedy: ${ownAgreed} of 32 steps its own prefill's argmax (worst gap ${worstOwnGap.toExponential(2)}), ` +
        `${agreed} of 32 the dequantized model's, worst gap ${worstGap.toExponential(2)}`,
    );
    expect(ownAgreed).toBeGreaterThanOrEqual(30);
    expect(worstOwnGap).toBeLessThan(2e-3);
    // Not "identical text" as for Q8_0: on these random models some steps are near-ties, their top
    // two logits closer in the dequantized model than the ~2e-2 of the largest logit that rounding
    // x moves the logits, and one flip changes the rest of the text. So: most steps are the
    // dequantized model's own argmax, and where they are not the kept token is within a small
    // fraction of the largest logit of it (the measured numbers are in QUANTIZED_GGUF_FORMATS).
    expect(agreed).toBeGreaterThanOrEqual(28);
    expect(worstGap).toBeLessThan(1e-2);
    kept.dispose();
    dequantized.dispose();
  });
}

export function itMatchesTheDequantizedLoraGradients({ format, both }: QuantizedGguf): void {
  it(`LoRA lossAndGrad over the frozen ${format.type} base: the dequantized base's loss and gradients, up to x's rounding`, async () => {
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
      `${format.type} LoRA lossAndGrad vs dequantized: loss ${lossGap.toExponential(2)}, grads ${gradGap.toExponential(2)}`,
    );
    // The base products see x rounded to format.rounding (backward: dX = dY·W, straight through the
    // rounding); one pair of bounds for every format (the measured gaps are in QUANTIZED_GGUF_FORMATS).
    expect(lossGap).toBeLessThan(1e-2);
    expect(gradGap).toBeLessThan(1e-1);
    kept.dispose();
    dequantized.dispose();
  });
}

export function itBatchesSequencesAsTheirOwnForwards({ both }: QuantizedGguf): void {
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
    // same x rounded to format.rounding, the GEMV or the GEMM summing in its own order.
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
}

/** A one-layer native model on the CPU, untied, 4 heads over `hiddenSize`, for setTensor's checks
 * of a format's blocks: each check sets the tensors it reads. */
export function createOneLayerNativeModel(hiddenSize: number, intermediateSize: number) {
  return new (loadAddon().LlamaModel)(
    nativeConfig(
      parseModelConfig(
        {
          architectures: ["LlamaForCausalLM"],
          hidden_size: hiddenSize,
          intermediate_size: intermediateSize,
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
}

/** Matches a KernelError by its code and a pattern of its message. */
export function kernelErrorMatching(code: string, message: RegExp) {
  return expect.objectContaining({ code, message: expect.stringMatching(message) });
}
