// The shipped tiny model through @pillow/core's runtime: it loads, computes the same logits as the
// independent plain-PyTorch LLaMA of scripts/tiny_llama_torch.py (reference written by scripts/reference_tiny_model.py), and generates.
import { readFileSync } from "node:fs";
import path from "node:path";
import { loadModel, type Model, promptStopStrings } from "@pillow/core";
import { beforeAll, describe, expect, it } from "vitest";
import { tinyModelDir } from "./tinyModel.js";

const modelDir = process.env.PILLOW_TINY_MODEL_DIR ?? tinyModelDir;
const referenceFile =
  process.env.PILLOW_TINY_MODEL_REFERENCE ??
  path.join(path.dirname(tinyModelDir), "src/fixtures/tiny-model-reference.json");
type ReferenceCase = { prompt: string; lastLogits: number[]; greedy: string };
const reference = JSON.parse(readFileSync(referenceFile, "utf8")) as { cases: ReferenceCase[] };

let model: Model;
beforeAll(async () => {
  model = await loadModel(modelDir);
});

describe("the shipped tiny model", () => {
  it("is a small f32 LLaMA with the byte tokenizer", () => {
    expect(model.config.vocabSize).toBe(259);
    expect(model.config.maxPositionEmbeddings).toBe(512);
    expect(model.tokenizer?.encode("ab")).toEqual(Int32Array.from([256, 97, 98]));
  });

  it("computes the same last-position logits as the PyTorch reference", async () => {
    for (const testCase of reference.cases) {
      const tokens = model.tokenizer!.encode(testCase.prompt);
      const logits = await model.forward(tokens);
      const vocab = model.config.vocabSize;
      const last = logits.subarray((tokens.length - 1) * vocab, tokens.length * vocab);
      let worst = 0;
      for (let i = 0; i < vocab; i++) worst = Math.max(worst, Math.abs(last[i] - testCase.lastLogits[i]));
      expect(worst).toBeLessThan(2e-3);
    }
  });

  it("generates the reference's greedy answers through core's KV-cache decoding", async () => {
    for (const testCase of reference.cases) {
      const result = await model.generate(testCase.prompt, { maxNewTokens: 16, stop: promptStopStrings });
      expect(result.text).toBe(testCase.greedy);
    }
  });
});
