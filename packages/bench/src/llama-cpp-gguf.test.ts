// Independent check of @pillow/core's GGUF exporter and of the llama.cpp peer: the same random
// weights, run by pillow (HF layout) and by llama.cpp (GGUF, q/k rows permuted into its rope
// layout), must give the same next-token logits at every position.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { exportModelToGguf, loadModel } from "@pillow/core";
import { createGqaTestModel, gqaTestVocab } from "./gqa-test-model.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { llamaCppDecode, llamaCppLogits, llamaCppPrefill, openLlamaCppModel, relativeError } from "./llama-cpp-peer.js";

const vocab = gqaTestVocab;
let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-llama-cpp-"));
  createGqaTestModel(dir);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("llama.cpp (node-llama-cpp prebuilt CPU binary) on pillow's GGUF export", () => {
  const tokens = Int32Array.from({ length: 23 }, (_, i) => (i * 37 + 5) % 259);

  for (const dtype of ["f32", "f16"] as const) {
    it(`gives pillow's logits at every position (${dtype} GGUF)`, async () => {
      const file = path.join(dir, `model-${dtype}.gguf`);
      exportModelToGguf(path.join(dir, "hf"), file, { dtype });
      const model = await loadModel(path.join(dir, "hf"), { threads: 2 });
      const expected = await model.forward(tokens);
      const runner = await openLlamaCppModel(file, { threads: 2, contextSize: 64, batchSize: 64, exact: true });
      try {
        const actual = await llamaCppLogits(runner, tokens, vocab);
        expect(actual.length).toBe(expected.length);
        // f32: only summation order differs (measured ~4e-7); f16 weights round each weight by up to 2^-11.
        expect(relativeError(actual, expected)).toBeLessThan(dtype === "f32" ? 1e-5 : 1e-2);
        // A wrong rope permutation would still leave position 0 right: check a late position too.
        const last = (tokens.length - 1) * vocab;
        expect(relativeError(actual.subarray(last), expected.subarray(last))).toBeLessThan(
          dtype === "f32" ? 1e-5 : 1e-2,
        );
        // The timing helpers run and report positive rates.
        expect(await llamaCppPrefill(runner, tokens)).toBeGreaterThan(0);
        expect(await llamaCppDecode(runner, tokens.subarray(0, 4), 3)).toBeGreaterThan(0);
      } finally {
        await runner.dispose();
      }
    });
  }

  it("shows the rope permutation matters: without it, late positions disagree", async () => {
    // The same weights, but with the exporter's q/k permutation undone in advance so the file
    // holds HF row order: llama.cpp must then disagree with pillow (the check has teeth).
    const { permuteRowsForGgufRope, SafetensorsCheckpoint, writeGguf, readModelConfig } = await import("@pillow/core");
    const hf = path.join(dir, "hf");
    const config = readModelConfig(hf);
    const checkpoint = SafetensorsCheckpoint.open(hf);
    const file = path.join(dir, "model-unpermuted.gguf");
    try {
      const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
      for (const name of checkpoint.names()) {
        const shape = checkpoint.info(name).shape;
        let data = checkpoint.readFloat32(name);
        // Undo the exporter's permutation in advance (its inverse), so the file holds HF order.
        const projection = /self_attn\.(q|k)_proj\.weight$/.exec(name)?.[1];
        if (projection)
          data = inversePermutation(
            data,
            shape[0],
            shape[1],
            projection === "q" ? config.numHeads : config.numKeyValueHeads,
            permuteRowsForGgufRope,
          );
        tensors[name] = { shape, data };
      }
      writeGguf(file, {
        config,
        tokenizerJson: JSON.parse(fs.readFileSync(path.join(hf, "tokenizer.json"), "utf8")),
        tensors,
      });
    } finally {
      checkpoint.close();
    }
    const model = await loadModel(hf, { threads: 2 });
    const expected = await model.forward(tokens);
    const runner = await openLlamaCppModel(file, { threads: 2, contextSize: 64, batchSize: 64, exact: true });
    try {
      const actual = await llamaCppLogits(runner, tokens, vocab);
      // Position 0 attends only to itself, so rope cannot matter there; later positions differ.
      expect(relativeError(actual.subarray(0, vocab), expected.subarray(0, vocab))).toBeLessThan(1e-5);
      const last = (tokens.length - 1) * vocab;
      expect(relativeError(actual.subarray(last), expected.subarray(last))).toBeGreaterThan(1e-3);
    } finally {
      await runner.dispose();
    }
  });
});

/** The rows that the permutation would send to HF order: applying `permute` afterwards is identity. */
function inversePermutation(
  data: Float32Array,
  rows: number,
  columns: number,
  heads: number,
  permute: (data: Float32Array, rows: number, columns: number, heads: number) => Float32Array,
): Float32Array {
  // Permute row indices (as a one-column matrix) to learn where each row goes, then invert.
  const indices = permute(
    Float32Array.from({ length: rows }, (_, i) => i),
    rows,
    1,
    heads,
  );
  const output = new Float32Array(data.length);
  for (let target = 0; target < rows; target++) {
    const source = indices[target];
    output.set(data.subarray(target * columns, (target + 1) * columns), source * columns);
  }
  return output;
}
