// A Q4_0 GGUF (18 bytes per 32 weights: an f16 scale and 4-bit codes) loaded with its linear
// weights kept as blocks (quantized: "keep"), its activations rounded to Q8_0 as the Q8_0 model's
// are: the cases shared with the Q8_0 and Q4_K files are in quantized-gguf-model-cases.ts (why the
// kept model differs from the dequantized one, the measured numbers); setTensor's checks of Q4_0
// blocks are this file's own.

import { KernelError } from "@pillow/lora-kernels";
import { describe, expect, it } from "vitest";
import { dequantizeQ4_0, quantizeQ4_0 } from "./quantized-blocks.js";
import {
  createOneLayerNativeModel,
  itBatchesSequencesAsTheirOwnForwards,
  itFollowsItsOwnPrefillInGreedyDecode,
  itKeepsTheFileBlocksByDefault,
  itMatchesTheDequantizedLoraGradients,
  itRoundsXAlikeInDecodeAndPrefill,
  kernelErrorMatching,
  QUANTIZED_GGUF_FORMATS,
  useQuantizedGguf,
} from "./quantized-gguf-model-cases.js";

const gguf = useQuantizedGguf(QUANTIZED_GGUF_FORMATS.q4_0);

describe('loadModel on a Q4_0 GGUF with quantized: "keep"', () => {
  itKeepsTheFileBlocksByDefault(gguf);
  itRoundsXAlikeInDecodeAndPrefill(gguf);
  itFollowsItsOwnPrefillInGreedyDecode(gguf);
  itMatchesTheDequantizedLoraGradients(gguf);
  itBatchesSequencesAsTheirOwnForwards(gguf);
});

describe('setTensor(name, blocks, "q4_0") checks its arguments', () => {
  const model = () => createOneLayerNativeModel(48, 64);

  it("accepts the right bytes and reads them back dequantized", () => {
    const native = model();
    // down_proj is [48, 64]: in = 64 is two blocks per row.
    const values = Float32Array.from({ length: 48 * 64 }, (_, i) => Math.sin(i) * (1 + (i % 97)));
    const blocks = quantizeQ4_0(values);
    expect(blocks.length).toBe(48 * 2 * 18);
    native.setTensor("model.layers.0.mlp.down_proj.weight", blocks, "q4_0");
    // The TypeScript decoder (quantized-blocks.ts) is the reference for the native one.
    expect(native.getTensor("model.layers.0.mlp.down_proj.weight")).toEqual(dequantizeQ4_0(blocks, values.length));
  });

  it("a wrong byte length, inputs not a multiple of 32, a non-linear tensor, a non-Uint8Array, a bad storeAs", () => {
    const native = model();
    const down = "model.layers.0.mlp.down_proj.weight";
    const call = (name: string, data: unknown) => () => native.setTensor(name, data as Uint8Array, "q4_0");
    const blocks = quantizeQ4_0(new Float32Array(48 * 64).fill(0.5));
    expect(call(down, blocks.subarray(1))).toThrow(KernelError);
    expect(call(down, blocks.subarray(1))).toThrow(
      kernelErrorMatching(
        "E_SHAPE",
        /down_proj\.weight" in q4_0 has 1727 bytes, expected 1728 \(48 rows x 2 blocks x 18\)/,
      ),
    );
    // Q8_0's length for the same matrix is not Q4_0's.
    expect(call(down, new Uint8Array(48 * 2 * 34))).toThrow(
      kernelErrorMatching("E_SHAPE", /in q4_0 has 3264 bytes, expected 1728/),
    );
    // q_proj is [48, 48]: 48 inputs are not whole blocks.
    expect(call("model.layers.0.self_attn.q_proj.weight", new Uint8Array(48 * 18))).toThrow(
      kernelErrorMatching(
        "E_SHAPE",
        /q_proj\.weight" cannot be stored in q4_0: its 48 inputs are not a multiple of 32/,
      ),
    );
    expect(call("model.norm.weight", new Uint8Array(18))).toThrow(
      kernelErrorMatching("E_ARGUMENT", /norm\.weight" cannot be stored in q4_0: only the linear weights/),
    );
    expect(call(down, new Float32Array(48 * 64))).toThrow(
      kernelErrorMatching("E_TYPE", /down_proj\.weight" in q4_0 must be a Uint8Array of Q4_0 blocks/),
    );
    expect(() => native.setTensor(down, blocks, "q5_0" as never)).toThrow(kernelErrorMatching("E_ARGUMENT", /"q4_0"/));
  });
});
