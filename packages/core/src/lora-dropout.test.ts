// LoRA dropout (PEFT lora_dropout) against a TypeScript reference. The reference rebuilds the
// native masks from their documented counter hash (lora_dropout_keep in llama_model_internal.h)
// and uses an identity: for the one position that carries the loss (a 2-token sequence whose only
// target is at position 0), dropping input feature i of a module's LoRA branch equals scaling
// column i of its A by mask_i/(1−p). So the dropout run must match a dropout-free adapter with
// A' = A·diag(m/(1−p)): same loss, same dB, and dA = dA'·diag(m/(1−p)).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel } from "./load-model.js";
import type { Model } from "./model.js";
import { LINEAR_MODULES, type LinearModule, peftTensorName } from "./peft.js";
import { Random } from "./random.js";
import { createTinyModel } from "./tiny-model.js";

const MASK64 = (1n << 64n) - 1n;

/** The TS twin of the native lora_dropout_keep: splitmix64 over the element's counter. */
function keeps(
  seed: number,
  step: number,
  layers: number,
  layer: number,
  module: number,
  rows: number,
  row: number,
  inFeatures: number,
  feature: number,
  probability: number,
): boolean {
  const counter =
    ((((BigInt(step) * BigInt(layers) + BigInt(layer)) * 7n + BigInt(module)) * BigInt(rows) + BigInt(row)) *
      BigInt(inFeatures) +
      BigInt(feature)) &
    MASK64;
  let z = (BigInt(seed) + (counter + 1n) * 0x9e3779b97f4a7c15n) & MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  z ^= z >> 31n;
  return Number(z >> 11n) * 2 ** -53 >= probability;
}

const hidden = 32;
const intermediate = 48;
const layers = 2;
let dir: string;
let model: Model;

const inFeatures = (module: LinearModule) => (module === "down_proj" ? intermediate : hidden);
const outFeatures = (module: LinearModule) =>
  module === "gate_proj" || module === "up_proj"
    ? intermediate
    : module === "k_proj" || module === "v_proj"
      ? hidden / 2
      : hidden;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-dropout-"));
  // GQA (4 query heads, 2 KV heads) so k/v have their own widths.
  createTinyModel(dir, {
    hiddenSize: hidden,
    intermediateSize: intermediate,
    numLayers: layers,
    numHeads: 4,
    numKeyValueHeads: 2,
    seed: 3,
  });
  model = await loadModel(dir, { threads: 2 });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Adds an adapter on every linear module with random A and B (B ≠ 0, so dA ≠ 0). */
function addRandomAdapter(name: string, dropout: number, seed: number, tensorSeed: number) {
  model.addAdapter(name, { r: 4, alpha: 8, targetModules: [...LINEAR_MODULES], dropout, seed });
  const random = new Random(tensorSeed);
  for (let layer = 0; layer < layers; layer++) {
    for (const module of LINEAR_MODULES) {
      const b = Float32Array.from({ length: outFeatures(module) * 4 }, () => 0.05 * (2 * random.next() - 1));
      model.native.setAdapterTensor(name, layer, module, "B", b);
    }
  }
}

describe("LoRA dropout in training", () => {
  const probability = 0.3;
  const seed = 11;
  const tokens = Int32Array.of(72, 105);
  const labels = Int32Array.of(-100, 105); // only position 0 predicts (labels are HF-aligned)

  it("matches the TS reference: masks rebuilt from the counter hash, folded into A", async () => {
    addRandomAdapter("dropped-1", probability, seed, 99);
    const step = 5;
    model.setActiveAdapter("dropped-1");
    const withDropout = await model.lossAndGrad({ tokens, labels, dropoutStep: step });

    // The reference adapter: A' = A·diag(m/(1−p)) for position 0's masks, same B, no dropout.
    const p = Math.fround(probability); // the native side keeps p as a float
    const keepScale = Math.fround(1 / (1 - p));
    const factors = new Map<string, Float32Array>();
    model.addAdapter("reference", { r: 4, alpha: 8, targetModules: [...LINEAR_MODULES] });
    let dropped = 0;
    let total = 0;
    for (let layer = 0; layer < layers; layer++) {
      LINEAR_MODULES.forEach((module, moduleIndex) => {
        const width = inFeatures(module);
        const factor = Float32Array.from({ length: width }, (_, i) =>
          keeps(seed, step, layers, layer, moduleIndex, tokens.length, 0, width, i, p) ? keepScale : 0,
        );
        dropped += factor.filter((f) => f === 0).length;
        total += width;
        factors.set(`${layer}.${module}`, factor);
        const a = model.native.getAdapterTensor("dropped-1", layer, module, "A");
        const scaled = a.map((value, index) => value * factor[index % width]);
        model.native.setAdapterTensor("reference", layer, module, "A", scaled);
        model.native.setAdapterTensor(
          "reference",
          layer,
          module,
          "B",
          model.native.getAdapterTensor("dropped-1", layer, module, "B"),
        );
      });
    }
    // The masks really drop about p of the features (1216 of them here).
    expect(dropped / total).toBeGreaterThan(0.2);
    expect(dropped / total).toBeLessThan(0.4);

    model.setActiveAdapter("reference");
    const reference = await model.lossAndGrad({ tokens, labels });
    expect(reference.loss).toBeGreaterThan(0.1);
    expect(Math.abs(withDropout.loss - reference.loss)).toBeLessThan(1e-5 * reference.loss);
    const largest = (part: "A" | "B") =>
      Math.max(
        ...Object.entries(reference.grads)
          .filter(([name]) => name.includes(`lora_${part}`))
          .flatMap(([, g]) => Array.from(g, Math.abs)),
      );
    const largestA = largest("A");
    const largestB = largest("B");
    expect(largestA).toBeGreaterThan(0);
    expect(largestB).toBeGreaterThan(0);
    for (let layer = 0; layer < layers; layer++) {
      for (const module of LINEAR_MODULES) {
        const factor = factors.get(`${layer}.${module}`) as Float32Array;
        const width = inFeatures(module);
        const gradB = withDropout.grads[peftTensorName(layer, module, "B")];
        const referenceB = reference.grads[peftTensorName(layer, module, "B")];
        const gradA = withDropout.grads[peftTensorName(layer, module, "A")];
        const expectedA = reference.grads[peftTensorName(layer, module, "A")].map(
          (value, index) => value * factor[index % width],
        );
        // Position 0 attends only to itself, so q/k get no gradient (zero up to rounding): compare
        // every tensor against the largest gradient of its kind instead of its own scale.
        const scaleB = largestB;
        const scaleA = largestA;
        if (module !== "q_proj" && module !== "k_proj") {
          expect(Math.max(...referenceB.map(Math.abs))).toBeGreaterThan(1e-3 * largestB);
          expect(Math.max(...expectedA.map(Math.abs))).toBeGreaterThan(1e-3 * largestA);
        }
        for (let i = 0; i < gradB.length; i++) expect(Math.abs(gradB[i] - referenceB[i])).toBeLessThan(1e-4 * scaleB);
        for (let i = 0; i < gradA.length; i++) expect(Math.abs(gradA[i] - expectedA[i])).toBeLessThan(1e-4 * scaleA);
      }
    }
  });

  it("draws fresh masks per step, reproducibly, and never drops in forward", async () => {
    addRandomAdapter("dropped-2", probability, seed, 7);
    addRandomAdapter("plain", 0, seed, 7); // same A (same seed) and B, no dropout
    const longer = Int32Array.from({ length: 12 }, (_, i) => 60 + i);
    const longerLabels = Int32Array.from(longer);
    model.setActiveAdapter("dropped-2");
    const first = await model.lossAndGrad({ tokens: longer, labels: longerLabels, dropoutStep: 0 });
    const again = await model.lossAndGrad({ tokens: longer, labels: longerLabels, dropoutStep: 0 });
    const other = await model.lossAndGrad({ tokens: longer, labels: longerLabels, dropoutStep: 1 });
    expect(again.loss).toBe(first.loss);
    expect(other.loss).not.toBe(first.loss);
    const droppedLogits = await model.forward(longer);
    model.setActiveAdapter("plain");
    const plain = await model.lossAndGrad({ tokens: longer, labels: longerLabels, dropoutStep: 0 });
    expect(plain.loss).not.toBe(first.loss);
    expect(await model.forward(longer)).toEqual(droppedLogits);
  });

  it("refuses a dropout outside [0, 1) and a bad dropoutStep", async () => {
    expect(() => model.addAdapter("bad", { r: 2, alpha: 4, targetModules: ["q_proj"], dropout: 1 })).toThrow(
      /dropout must be in \[0, 1\)/,
    );
    addRandomAdapter("dropped-3", probability, seed, 1);
    model.setActiveAdapter("dropped-3");
    await expect(model.lossAndGrad({ tokens, labels, dropoutStep: -1 })).rejects.toThrow(
      /dropoutStep must be an integer >= 0/,
    );
  });
});
