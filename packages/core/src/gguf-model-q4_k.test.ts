// A Q4_K GGUF (pillow's own quantizer, every matrix's rows whole 256-value super-blocks) loaded with
// its linear weights kept as blocks (quantized: "keep"), its activations rounded to Q8_K: the cases
// shared with the Q8_0 and Q4_0 files are in quantized-gguf-model-cases.ts (why the kept model
// differs from the dequantized one, the measured numbers); setTensor's checks of Q4_K blocks are
// this file's own.

import { KernelError } from "@pillow/lora-kernels";
import { describe, expect, it } from "vitest";
import { dequantizeQ4_K, quantizeQ4_K } from "./k-quant-blocks.js";
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

const gguf = useQuantizedGguf(QUANTIZED_GGUF_FORMATS.q4_k);

describe('loadModel on a Q4_K GGUF with quantized: "keep"', () => {
  itKeepsTheFileBlocksByDefault(gguf);
  itRoundsXAlikeInDecodeAndPrefill(gguf);
  itFollowsItsOwnPrefillInGreedyDecode(gguf);
  itMatchesTheDequantizedLoraGradients(gguf);
  itBatchesSequencesAsTheirOwnForwards(gguf);
});

describe('setTensor(name, blocks, "q4_k") checks its arguments', () => {
  const model = () => createOneLayerNativeModel(96, 512);

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
    const blocks = quantizeQ4_K(new Float32Array(96 * 512).fill(0.5));
    expect(call(down, blocks.subarray(1))).toThrow(KernelError);
    expect(call(down, blocks.subarray(1))).toThrow(
      kernelErrorMatching(
        "E_SHAPE",
        /down_proj\.weight" in q4_k has 27647 bytes, expected 27648 \(96 rows x 2 blocks x 144\)/,
      ),
    );
    // q_proj is [96, 96]: 96 inputs are whole 32-value blocks but not a 256-value super-block.
    expect(call("model.layers.0.self_attn.q_proj.weight", new Uint8Array(96 * 144))).toThrow(
      kernelErrorMatching(
        "E_SHAPE",
        /q_proj\.weight" cannot be stored in q4_k: its 96 inputs are not a multiple of 256/,
      ),
    );
    expect(call("model.norm.weight", new Uint8Array(144))).toThrow(
      kernelErrorMatching("E_ARGUMENT", /norm\.weight" cannot be stored in q4_k: only the linear weights/),
    );
    expect(call(down, new Float32Array(96 * 512))).toThrow(
      kernelErrorMatching("E_TYPE", /down_proj\.weight" in q4_k must be a Uint8Array of Q4_K blocks/),
    );
    expect(() => native.setTensor(down, blocks, "q5_k" as never)).toThrow(kernelErrorMatching("E_ARGUMENT", /"q4_k"/));
  });
});
