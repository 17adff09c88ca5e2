// A Q8_0 GGUF loaded with its linear weights kept as blocks (quantized: "keep"), its activations
// rounded to Q8_0: the cases shared with the Q4_0 and Q4_K files are in
// quantized-gguf-model-cases.ts (why the kept model differs from the dequantized one, the measured
// numbers); the ones below are Q8_0's own: its greedy text is the dequantized model's, token for
// token, and setTensor's checks of Q8_0 blocks.

import { KernelError } from "@pillow/lora-kernels";
import { describe, expect, it } from "vitest";
import { GGML_TYPES } from "./gguf-format.js";
import { readGguf } from "./gguf-reader.js";
import { loadModel } from "./load-model.js";
import { dequantizeQ8_0, quantizeQ8_0 } from "./quantized-blocks.js";
import {
  createOneLayerNativeModel,
  itBatchesSequencesAsTheirOwnForwards,
  itMatchesTheDequantizedLoraGradients,
  itRoundsXAlikeInDecodeAndPrefill,
  kernelErrorMatching,
  QUANTIZED_GGUF_FORMATS,
  useQuantizedGguf,
} from "./quantized-gguf-model-cases.js";

const gguf = useQuantizedGguf(QUANTIZED_GGUF_FORMATS.q8_0);

describe('loadModel on a Q8_0 GGUF with quantized: "keep"', () => {
  it("keeps the linear weights as the file's blocks and is the default on the CPU", async () => {
    const types = new Set(readGguf(gguf.file).tensors.map((t) => GGML_TYPES[t.type].name));
    expect(types.has("Q8_0")).toBe(true);
    const [kept, dequantized] = await gguf.both();
    const byDefault = await loadModel(gguf.file, { threads: 2 });
    for (const name of kept.native.tensorNames()) {
      // getTensor dequantizes kept blocks: the same values as the f32 model's.
      expect(kept.native.getTensor(name), name).toEqual(dequantized.native.getTensor(name));
    }
    // The default is keep: its one-token logits are the kept model's, bit for bit (same kernel).
    const prompt = Int32Array.of(72);
    expect(await byDefault.forward(prompt)).toEqual(await kept.forward(prompt));
    for (const model of [kept, dequantized, byDefault]) model.dispose();
  });

  itRoundsXAlikeInDecodeAndPrefill(gguf);

  it("greedy text is identical for 32 tokens (KV-cache decode through the Q8_0 GEMV)", async () => {
    const [kept, dequantized] = await gguf.both();
    const options = { maxNewTokens: 32, temperature: 0, stop: [] as string[] };
    const a = await kept.generate("Hello, pillow", options);
    const b = await dequantized.generate("Hello, pillow", options);
    expect(a.tokens.length).toBe(32);
    expect(Array.from(a.tokens)).toEqual(Array.from(b.tokens));
    expect(a.text).toBe(b.text);
    kept.dispose();
    dequantized.dispose();
  });

  itMatchesTheDequantizedLoraGradients(gguf);
  itBatchesSequencesAsTheirOwnForwards(gguf);

  it("full training needs the dequantized base, and names the q8_0 tensor", async () => {
    const kept = await loadModel(gguf.file, { threads: 2 });
    const tokens = Int32Array.of(1, 2, 3, 4);
    await expect(kept.lossAndGrad({ tokens, labels: tokens, mode: "full" })).rejects.toThrow(/stored in q8_0/);
    kept.dispose();
  });

  it("rejects a bad quantized option", async () => {
    await expect(loadModel(gguf.file, { quantized: "sometimes" as never })).rejects.toMatchObject({
      code: "E_ARGUMENT",
    });
  });
});

describe('setTensor(name, blocks, "q8_0") checks its arguments', () => {
  const model = () => createOneLayerNativeModel(48, 64);
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
    expect(call(down, blocksFor(48, 64).subarray(1))).toThrow(KernelError);
    expect(call(down, blocksFor(48, 64).subarray(1))).toThrow(
      kernelErrorMatching("E_SHAPE", /down_proj\.weight" in q8_0 has 3263 bytes, expected 3264/),
    );
    // q_proj is [48, 48]: 48 inputs are not whole blocks.
    expect(call("model.layers.0.self_attn.q_proj.weight", new Uint8Array(48 * 34))).toThrow(
      kernelErrorMatching(
        "E_SHAPE",
        /q_proj\.weight" cannot be stored in q8_0: its 48 inputs are not a multiple of 32/,
      ),
    );
    expect(call("model.norm.weight", new Uint8Array(34))).toThrow(
      kernelErrorMatching("E_ARGUMENT", /only the linear weights/),
    );
    expect(call(down, new Float32Array(48 * 64))).toThrow(
      kernelErrorMatching("E_TYPE", /must be a Uint8Array of Q8_0 blocks/),
    );
  });
});
