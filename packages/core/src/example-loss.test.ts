// exampleLosses against the native loss of lossAndGrad (a second implementation of the same
// cross-entropy), alone and in ragged right-padded batches.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exampleLosses } from "./example-loss.js";
import { loadModel } from "./load-model.js";
import { createTinyModel } from "./tiny-model.js";
import { tokenizeExample } from "./training-examples.js";

let root = "";
let modelDir = "";

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-example-loss-"));
  modelDir = path.join(root, "tiny");
  createTinyModel(modelDir, {
    hiddenSize: 32,
    numLayers: 2,
    numHeads: 4,
    numKeyValueHeads: 2,
    maxPositionEmbeddings: 128,
    seed: 3,
    initStd: 0.3,
  });
});

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const dataset = [
  { prompt: "n=1;", response: "aaa" },
  { prompt: "a longer prompt here;", response: "bb" },
  { prompt: "x", response: "a much longer response" },
];

describe("exampleLosses", () => {
  it("equals lossAndGrad's loss per example, batched or not, with and without an adapter", async () => {
    const model = await loadModel(modelDir);
    model.addAdapter("probe", { r: 4, alpha: 8, targetModules: ["q_proj", "v_proj"], seed: 2 });
    // Non-zero B so that the adapter changes the logits.
    for (const layer of [0, 1])
      for (const module of ["q_proj", "v_proj"] as const) {
        const b = model.native.getAdapterTensor("probe", layer, module, "B").map((_, i) => Math.sin(i) * 0.3);
        model.native.setAdapterTensor("probe", layer, module, "B", b);
      }
    for (const adapter of [null, "probe"]) {
      model.setActiveAdapter(adapter);
      const reference: number[] = [];
      for (const [index, example] of dataset.entries()) {
        const { tokens, labels } = tokenizeExample(model, example, { maxLength: 128, appendEos: true }, index);
        reference.push((await model.lossAndGrad({ tokens, labels, mode: adapter ? "lora" : "full" })).loss);
      }
      for (const batchSize of [1, 2, 3]) {
        const losses = await exampleLosses(model, dataset, { batchSize });
        for (const [index, loss] of losses.entries()) expect(Math.abs(loss - reference[index])).toBeLessThan(1e-4);
      }
    }
    model.setActiveAdapter(null);
    const withProbe = await (async () => {
      model.setActiveAdapter("probe");
      return exampleLosses(model, dataset);
    })();
    model.setActiveAdapter(null);
    expect(Math.abs(withProbe[0] - (await exampleLosses(model, dataset))[0])).toBeGreaterThan(1e-4);
  });

  it("scores a text example (every token after the first) as lossAndGrad does", async () => {
    const model = await loadModel(modelDir);
    const example = { text: "abc abc abc" };
    const { tokens, labels } = tokenizeExample(model, example, { maxLength: 128, appendEos: true });
    const reference = (await model.lossAndGrad({ tokens, labels, mode: "full" })).loss;
    const [loss] = await exampleLosses(model, [example]);
    expect(Math.abs(loss - reference)).toBeLessThan(1e-4);
  });

  it("rejects bad options", async () => {
    const relabelled = { tokens: Int32Array.of(1, 5, 6, 7), labels: Int32Array.of(-100, 5, -100, 7) };
    await expect(exampleLosses(await loadModel(modelDir), [relabelled])).rejects.toThrow(
      /dataset\[0\] masks or relabels tokens after its prompt \(position 2\)/,
    );
    const model = await loadModel(modelDir);
    await expect(exampleLosses(model, dataset, { batchSize: 0 })).rejects.toThrow(/batchSize must be an integer >= 1/);
    await expect(exampleLosses(model, dataset, { maxLength: 1000 })).rejects.toThrow(
      /maxLength must be an integer in \[2, 128\]/,
    );
    await expect(exampleLosses(model, [{ prompt: 3 as unknown as string, response: "a" }])).rejects.toThrow(
      /dataset\[0\]: prompt and response must be strings/,
    );
  });
});

describe("copyAdapter", () => {
  it("copies every factor exactly; training the copy leaves the original bit-identical", async () => {
    const model = await loadModel(modelDir);
    model.addAdapter("original", { r: 2, alpha: 4, targetModules: ["q_proj", "down_proj"], seed: 5 });
    model.copyAdapter("original", "copy");
    const original = model.adapterTensors("original");
    const copy = model.adapterTensors("copy");
    expect(Object.keys(copy)).toEqual(Object.keys(original));
    for (const name of Object.keys(original))
      expect(Buffer.from(copy[name].buffer).equals(Buffer.from(original[name].buffer))).toBe(true);
    expect(model.adapterConfig("copy")).toEqual(model.adapterConfig("original"));
    model.setActiveAdapter("copy");
    const { train } = await import("./train.js");
    await train(model, dataset, { epochs: 2, lr: 1e-2 });
    const after = model.adapterTensors("original");
    for (const name of Object.keys(original))
      expect(Buffer.from(after[name].buffer).equals(Buffer.from(original[name].buffer))).toBe(true);
    expect(
      Object.keys(original).some(
        (name) => !Buffer.from(model.adapterTensors("copy")[name].buffer).equals(Buffer.from(original[name].buffer)),
      ),
    ).toBe(true);
    expect(() => model.copyAdapter("missing", "x")).toThrow(/no adapter named "missing"/);
    expect(() => model.copyAdapter("original", "copy")).toThrow(/already exists/);
  });
});
