import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { KernelError, loadAddon } from "@pillow/lora-kernels";
import { afterAll, describe, expect, it } from "vitest";
import { loadModel } from "./load-model.js";
import { createTinyModel } from "./tiny-model.js";

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-dispose-"));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

const rssMiB = () => process.memoryUsage().rss / 2 ** 20;

describe("Model.dispose", () => {
  it("frees the native weights at once; later use is a clear E_DISPOSED error", async () => {
    // Untied 8 451 × 512 embedding and LM head: 2 × 16.5 MiB of f32 weights, plus what the native side
    // derives from them (packed copies), all in allocations large enough to go back to the system.
    const dir = path.join(scratch, "model");
    createTinyModel(dir, {
      hiddenSize: 512,
      intermediateSize: 64,
      numLayers: 1,
      numHeads: 4,
      vocabSize: 8192,
      tieWordEmbeddings: false,
      seed: 1,
    });
    const weightsMiB = (2 * 8451 * 512 * 4) / 2 ** 20;
    const model = await loadModel(dir);
    await model.forward(Int32Array.of(1, 2, 3)); // the weights are in use
    const loaded = rssMiB();
    model.dispose();
    const freed = loaded - rssMiB();
    console.log(
      `[dispose] resident memory ${loaded.toFixed(0)} MiB loaded, ${freed.toFixed(1)} MiB freed by dispose() (weights ${weightsMiB.toFixed(1)} MiB)`,
    );
    expect(freed).toBeGreaterThan(0.8 * weightsMiB);
    let caught: unknown;
    try {
      model.forward(Int32Array.of(1));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(KernelError);
    expect(caught).toMatchObject({ code: "E_DISPOSED", message: expect.stringContaining("disposed") });
    expect(() => model.native.tensorNames()).toThrow(/disposed/);
    expect(() => model.dispose()).not.toThrow(); // idempotent
  });

  it("is what `using` calls at the end of its block", async () => {
    const dir = path.join(scratch, "small");
    createTinyModel(dir, { hiddenSize: 16, numLayers: 1, numHeads: 2, seed: 2 });
    const model = await loadModel(dir);
    {
      using scoped = model;
      expect(scoped.native.tensorNames().length).toBeGreaterThan(0);
    }
    expect(() => model.native.tensorNames()).toThrowError(expect.objectContaining({ code: "E_DISPOSED" }));
    // The native object alone disposes the same way.
    const addon = loadAddon();
    const native = new addon.LlamaModel({
      vocabSize: 8,
      hiddenSize: 4,
      intermediateSize: 8,
      numLayers: 1,
      numHeads: 1,
      numKeyValueHeads: 1,
      headDim: 4,
      maxPositionEmbeddings: 8,
      rmsNormEps: 1e-5,
      ropeTheta: 10000,
      ropeScaling: null,
      tieWordEmbeddings: true,
      attentionBias: false,
    });
    native[Symbol.dispose]();
    expect(() => native.missingTensors()).toThrowError(expect.objectContaining({ code: "E_DISPOSED" }));
  });
});
