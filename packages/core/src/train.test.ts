// Training, adapters and saving on a small random model with the byte tokenizer.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel } from "./load-model.js";
import { NativeBackend } from "./native-backend.js";
import { saveModel } from "./save-model.js";
import { createTinyModel } from "./tiny-model.js";
import { learningRateAt } from "./learning-rate-schedule.js";
import { train } from "./train.js";
import type { TrainingExample } from "./training-examples.js";

let root = "";
let modelDir = "";

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-train-"));
  modelDir = path.join(root, "tiny");
  createTinyModel(modelDir, {
    hiddenSize: 32,
    numLayers: 2,
    numHeads: 4,
    numKeyValueHeads: 2,
    maxPositionEmbeddings: 128,
    seed: 7,
    initStd: 0.3,
  });
});

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const;
const dataset: TrainingExample[] = Array.from({ length: 12 }, (_, i) => ({
  prompt: `n=${i};`,
  response: `${"ab"[i % 2].repeat(3)}`,
}));

function logitsEqual(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

describe("learning-rate schedule (HF semantics)", () => {
  it("warms up linearly from 0 and decays by a half cosine", () => {
    expect(learningRateAt(0, 10, 1, 2, "cosine")).toBe(0);
    expect(learningRateAt(1, 10, 1, 2, "cosine")).toBe(0.5);
    expect(learningRateAt(2, 10, 1, 2, "cosine")).toBe(1);
    expect(learningRateAt(6, 10, 1, 2, "cosine")).toBeCloseTo(0.5, 12);
    expect(learningRateAt(10, 10, 1, 2, "cosine")).toBeCloseTo(0, 12);
    expect(learningRateAt(7, 10, 3, 2, "constant")).toBe(3);
  });
});

describe("LoRA training", () => {
  it("lowers the loss; the saved adapter loads back to identical logits", async () => {
    const model = await loadModel(modelDir);
    model.addAdapter("task", { r: 4, alpha: 8, targetModules: [...ALL], seed: 1 });
    model.setActiveAdapter("task");
    const probe = model.tokenizer?.encode("n=3;aaa") as Int32Array;
    // B starts at zero: the fresh adapter changes nothing.
    model.setActiveAdapter(null);
    const base = await model.forward(probe);
    model.setActiveAdapter("task");
    expect(logitsEqual(await model.forward(probe), base)).toBe(true);
    const result = await train(model, dataset, { epochs: 8, batchSize: 4, lr: 2e-2, warmup: 2 });
    expect(result.steps).toBe(24);
    expect(result.losses.every(Number.isFinite)).toBe(true);
    expect(result.finalLoss).toBeLessThan(result.losses[0] * 0.5);
    const trained = await model.forward(probe);
    expect(logitsEqual(trained, base)).toBe(false);
    const adapterDir = path.join(root, "adapter");
    model.saveAdapter("task", adapterDir);
    const config = JSON.parse(fs.readFileSync(path.join(adapterDir, "adapter_config.json"), "utf8"));
    expect(config).toMatchObject({ r: 4, lora_alpha: 8, peft_type: "LORA" });
    const reloaded = await loadModel(modelDir);
    reloaded.loadAdapter(adapterDir, "again");
    reloaded.setActiveAdapter("again");
    expect(logitsEqual(await reloaded.forward(probe), trained)).toBe(true);
    // The model learned the task: greedy answer for an even n is "aaa".
    const answer = await model.generate("n=4;", { maxNewTokens: 3 });
    expect(answer.text).toBe("aaa");
  });

  it("packed weight copies are only a cache: identical loss and gradients without them; setTensor refreshes them", async () => {
    // LoRA training packs the frozen weights once (PILLOW_PACKED_WEIGHTS_MB = 0 turns that off).
    const tokens = Int32Array.from({ length: 24 }, (_, i) => 3 + ((i * 7) % 200));
    const labels = tokens.slice();
    const withAdapter = async () => {
      const model = await loadModel(modelDir);
      model.addAdapter("task", { r: 4, alpha: 8, targetModules: [...ALL], seed: 3 });
      model.setActiveAdapter("task");
      return model;
    };
    const packed = await withAdapter();
    const first = await packed.lossAndGrad({ tokens, labels });
    const unpacked = await withAdapter();
    process.env.PILLOW_PACKED_WEIGHTS_MB = "0"; // read when the first LoRA step prepares the copies
    const second = await unpacked.lossAndGrad({ tokens, labels }).finally(() => {
      delete process.env.PILLOW_PACKED_WEIGHTS_MB;
    });
    expect(second.loss).toBe(first.loss);
    expect(Object.keys(second.grads).sort()).toEqual(Object.keys(first.grads).sort());
    for (const [name, grad] of Object.entries(first.grads))
      expect(logitsEqual(second.grads[name], grad), name).toBe(true);
    // New values for a weight the packed model has packed: its next forward must use them.
    const name = "model.layers.0.mlp.up_proj.weight";
    const changed = packed.native.getTensor(name).map((value: number, i: number) => value + ((i % 5) - 2) * 0.01);
    packed.native.setTensor(name, changed, "f32");
    unpacked.native.setTensor(name, changed, "f32");
    const after = await packed.forward(tokens);
    expect(logitsEqual(after, await unpacked.forward(tokens))).toBe(true);
    expect((await packed.lossAndGrad({ tokens, labels })).loss).not.toBe(first.loss);
  });

  it("resume continues the exact same loss curve", async () => {
    const options = { epochs: 4, batchSize: 2, gradAccum: 2, lr: 1e-2, warmup: 1, seed: 5 } as const;
    const reference = await loadModel(modelDir);
    reference.addAdapter("a", { r: 2, alpha: 4, targetModules: ["q_proj", "v_proj", "down_proj"], seed: 9 });
    reference.setActiveAdapter("a");
    const full = await train(reference, dataset, options);

    const checkpointDir = path.join(root, "checkpoints");
    const first = await loadModel(modelDir);
    first.addAdapter("a", { r: 2, alpha: 4, targetModules: ["q_proj", "v_proj", "down_proj"], seed: 9 });
    first.setActiveAdapter("a");
    const part = await train(first, dataset, { ...options, checkpointDir, checkpointEvery: 2, maxSteps: 5 });
    expect(part.steps).toBe(5);
    expect(fs.readdirSync(checkpointDir).sort()).toEqual(["checkpoint-5", "latest.json"]);

    const second = await loadModel(modelDir);
    second.addAdapter("a", { r: 2, alpha: 4, targetModules: ["q_proj", "v_proj", "down_proj"], seed: 123 });
    second.setActiveAdapter("a");
    const rest = await train(second, dataset, { ...options, checkpointDir, resume: true });
    expect(rest.resumedFrom).toBe(5);
    expect(rest.losses).toEqual(full.losses);
  });

  it("resume with LoRA dropout draws the same masks (adapter created with the same seed)", async () => {
    const options = { epochs: 2, batchSize: 2, gradAccum: 2, lr: 1e-2, warmup: 1, seed: 5 } as const;
    const adapter = { r: 2, alpha: 4, targetModules: ["q_proj", "v_proj", "down_proj"], seed: 9 } as const;
    const runs = async (dropout: number, checkpoint?: { dir: string; maxSteps?: number; resume?: boolean }) => {
      const model = await loadModel(modelDir);
      model.addAdapter("a", { ...adapter, targetModules: [...adapter.targetModules], dropout });
      model.setActiveAdapter("a");
      return train(
        model,
        dataset,
        checkpoint
          ? {
              ...options,
              checkpointDir: checkpoint.dir,
              checkpointEvery: 2,
              maxSteps: checkpoint.maxSteps,
              resume: checkpoint.resume,
            }
          : options,
      );
    };
    const full = await runs(0.2);
    const withoutDropout = await runs(0);
    expect(full.losses).not.toEqual(withoutDropout.losses);
    const dir = path.join(root, "checkpoints-dropout");
    await runs(0.2, { dir, maxSteps: 3 });
    const rest = await runs(0.2, { dir, resume: true });
    expect(rest.resumedFrom).toBe(3);
    expect(rest.losses).toEqual(full.losses);
  });
});

describe("full training and saveModel", () => {
  it("lowers the loss and the saved model loads back identically", async () => {
    const model = await loadModel(modelDir);
    const texts: TrainingExample[] = Array.from({ length: 8 }, () => ({ text: "abcabcabcabc" }));
    const result = await train(model, texts, { mode: "full", epochs: 6, batchSize: 4, lr: 1e-2 });
    expect(result.finalLoss).toBeLessThan(result.losses[0] * 0.5);
    const probe = Int32Array.of(256, 97, 98, 99, 97);
    const logits = await model.forward(probe);
    const saved = path.join(root, "saved");
    saveModel(model, saved);
    expect(fs.existsSync(path.join(saved, "tokenizer.json"))).toBe(true);
    const reloaded = await loadModel(saved);
    expect(logitsEqual(await reloaded.forward(probe), logits)).toBe(true);
    expect(reloaded.config.hiddenSize).toBe(32);
  });
});

describe("generation", () => {
  it("streams, stops at stop strings, and serves as a GenerationBackend", async () => {
    const model = await loadModel(modelDir);
    await train(
      model,
      Array.from({ length: 4 }, () => ({ text: "hello abcabcabcabc" })),
      { mode: "full", epochs: 10, batchSize: 4, lr: 2e-2 },
    );
    const chunks: string[] = [];
    const greedy = await model.generate("hello ", {
      maxNewTokens: 8,
      ignoreEos: true,
      onToken: (c) => chunks.push(c.text),
    });
    expect(greedy.tokens.length).toBe(8);
    expect(greedy.text).toBe("abcabcab");
    expect(chunks.join("")).toBe(greedy.text);
    const stopped = await model.generate("hello ", { maxNewTokens: 8, ignoreEos: true, stop: ["ca"] });
    expect(stopped.finishReason).toBe("stop");
    expect(stopped.text).toBe("ab");
    const sampledA = await model.generate("hello ", {
      maxNewTokens: 6,
      temperature: 1.5,
      topK: 50,
      seed: 11,
      ignoreEos: true,
    });
    const sampledB = await model.generate("hello ", {
      maxNewTokens: 6,
      temperature: 1.5,
      topK: 50,
      seed: 11,
      ignoreEos: true,
    });
    expect(sampledA.tokens).toEqual(sampledB.tokens);
    expect(sampledA.tokens.length).toBe(6);
    const backend = new NativeBackend(model);
    const [a, b] = await backend.generateBatch(["hello ", "hello abc"], { maxNewTokens: 3 });
    expect(a.text).toBe("abc");
    expect(b.text).toBe("abc");
    const embeddings = await backend.embed(["abc", "abd"]);
    expect(embeddings).toHaveLength(2);
    expect(embeddings[0].length).toBe(32);
    expect(embeddings[0]).not.toEqual(embeddings[1]);
  });
});
