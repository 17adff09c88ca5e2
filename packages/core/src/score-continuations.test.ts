// Model.scoreContinuations (the matcher's "loglik" reward) against three references: a model whose
// weights are all zero (uniform next-token distribution: log p = −ln 259 per token, by hand), the
// log-softmax of plain unbatched forward logits, and lossAndGrad's loss on the same pair.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel } from "./load-model.js";
import type { Model } from "./model.js";
import { NativeBackend } from "./native-backend.js";
import { BYTE_VOCAB_SIZE, createTinyModel } from "./tiny-model.js";

let root = "";
let model: Model;
let zero: Model;

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-score-"));
  createTinyModel(path.join(root, "random"), {
    hiddenSize: 32,
    numLayers: 2,
    numHeads: 4,
    numKeyValueHeads: 2,
    maxPositionEmbeddings: 64,
    seed: 3,
    initStd: 0.3,
  });
  createTinyModel(path.join(root, "zero"), {
    hiddenSize: 32,
    numLayers: 1,
    numHeads: 4,
    maxPositionEmbeddings: 64,
    seed: 3,
    initStd: 0,
  });
  model = await loadModel(path.join(root, "random"));
  zero = await loadModel(path.join(root, "zero"));
});

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** Σ log softmax of the unbatched forward's logits at the continuation tokens, written out plainly. */
async function referenceLogProb(prompt: string, continuation: string): Promise<number> {
  const tokenizer = model.tokenizer!;
  const promptTokens = tokenizer.encode(prompt, { addSpecialTokens: true });
  const all = Int32Array.from([...promptTokens, ...tokenizer.encode(continuation, { addSpecialTokens: false })]);
  const logits = await model.forward(all);
  const vocab = model.config.vocabSize;
  let total = 0;
  for (let t = promptTokens.length; t < all.length; t++) {
    const row = Array.from(logits.subarray((t - 1) * vocab, t * vocab));
    const maximum = Math.max(...row);
    const normaliser = Math.log(row.reduce((sum, value) => sum + Math.exp(value - maximum), 0)) + maximum;
    total += row[all[t]] - normaliser;
  }
  return total;
}

describe("scoreContinuations", () => {
  it("gives −n·ln 259 on a model with all-zero weights (uniform next-token distribution)", async () => {
    const [score] = await zero.scoreContinuations([{ prompt: "abc", continuation: "hello" }]);
    expect(score.count).toBe(5);
    expect(score.logProb).toBeCloseTo(-5 * Math.log(BYTE_VOCAB_SIZE), 5);
  });

  it("matches the log-softmax of the unbatched forward, alone and in ragged batches", async () => {
    const pairs = [
      { prompt: "n=1;", continuation: "aaa\n" },
      { prompt: "a much longer prompt here", continuation: "b" },
      { prompt: "x", continuation: "the longest continuation" },
      { prompt: "empty", continuation: "" },
    ];
    const expected = await Promise.all(pairs.map((pair) => referenceLogProb(pair.prompt, pair.continuation)));
    for (const maxBatchTokens of [1, 40, 8192]) {
      const scores = await model.scoreContinuations(pairs, { maxBatchTokens });
      scores.forEach((score, i) => {
        expect(score.count).toBe(pairs[i].continuation.length);
        expect(score.logProb).toBeCloseTo(expected[i], 3);
      });
    }
  });

  it("is minus lossAndGrad's loss times the token count (with an adapter active)", async () => {
    model.addAdapter("lora", { r: 4, alpha: 8, targetModules: ["q_proj", "v_proj", "down_proj"], seed: 1 });
    // A non-zero B so the adapter changes the logits.
    for (let layer = 0; layer < model.config.numLayers; layer++) {
      for (const module of ["q_proj", "v_proj", "down_proj"] as const) {
        const b = model.native.getAdapterTensor("lora", layer, module, "B");
        model.native.setAdapterTensor(
          "lora",
          layer,
          module,
          "B",
          b.map((_, i) => 0.05 * Math.sin(i + 1 + layer)),
        );
      }
    }
    model.setActiveAdapter("lora");
    const tokenizer = model.tokenizer!;
    const prompt = tokenizer.encode("question: 2+2 =", { addSpecialTokens: true });
    const answer = tokenizer.encode(" four\n", { addSpecialTokens: false });
    const tokens = Int32Array.from([...prompt, ...answer]);
    const labels = Int32Array.from(tokens, (token, t) => (t < prompt.length ? -100 : token));
    const { loss, count } = await model.lossAndGrad({ tokens, labels });
    const backend = new NativeBackend(model, { adapter: "lora" });
    const [score] = await backend.score([{ prompt: "question: 2+2 =", continuation: " four\n" }]);
    expect(score.count).toBe(count);
    expect(-score.logProb / score.count).toBeCloseTo(loss, 4);
    model.setActiveAdapter(null);
    const [base] = await model.scoreContinuations([{ prompt: "question: 2+2 =", continuation: " four\n" }]);
    expect(Math.abs(base.logProb - score.logProb)).toBeGreaterThan(1e-3);
  });

  it("rejects sequences past the context and malformed pairs", async () => {
    await expect(model.scoreContinuations([{ prompt: "p".repeat(60), continuation: "c".repeat(10) }])).rejects.toThrow(
      /pairs\[0\] has 71 tokens; max_position_embeddings is 64/,
    );
    await expect(model.scoreContinuations([{ prompt: 3 as unknown as string, continuation: "x" }])).rejects.toThrow(
      /pairs\[0\]\.prompt must be/,
    );
    await expect(model.scoreContinuations([], { maxBatchTokens: 0 })).rejects.toThrow(
      /maxBatchTokens must be a positive integer/,
    );
    expect(await model.scoreContinuations([])).toEqual([]);
  });
});
