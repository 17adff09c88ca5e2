// The native model against an independent plain-PyTorch reference (test-tools/torch_reference.py,
// run with Debian's python3-torch): logits, loss, LoRA gradients and full gradients for GQA,
// tied embeddings + qkv bias (Qwen2), Llama-3 and linear rope scaling, T = 1 and T = 37.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CheckpointError, ConfigError } from "./errors.js";
import { loadModel } from "./load-model.js";
import type { Model } from "./model.js";
import { SafetensorsCheckpoint, writeSafetensors } from "./safetensors.js";
import { relativeError } from "./test-relative-error.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const script = path.resolve(here, "..", "test-tools", "torch_reference.py");
const python = process.env.PILLOW_PYTHON ?? (fs.existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3");

type Reference = { tokens: number[]; labels: number[]; loss_lora: number | null; loss_base: number | null };

let root = "";

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-torch-ref-"));
  const run = spawnSync(python, [script, root], { encoding: "utf8" });
  if (run.status !== 0) throw new Error(`torch_reference.py failed (${python}): ${run.stderr || run.error?.message}`);
});

afterAll(() => {
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

function readCase(name: string): { reference: Reference; tensors: SafetensorsCheckpoint; dir: string } {
  const dir = path.join(root, name);
  const reference = JSON.parse(fs.readFileSync(path.join(dir, "reference.json"), "utf8")) as Reference;
  return { reference, tensors: SafetensorsCheckpoint.open(path.join(dir, "reference.safetensors")), dir };
}

const CASES = ["llama_gqa", "llama_t1", "qwen2_tied_bias", "llama3_rope", "llama_linear_rope"];

describe.each(CASES)("against PyTorch: %s", (name) => {
  let model: Model;
  let reference: Reference;
  let tensors: SafetensorsCheckpoint;
  let tokens: Int32Array;
  let labels: Int32Array;

  beforeAll(async () => {
    const loaded = readCase(name);
    reference = loaded.reference;
    tensors = loaded.tensors;
    model = await loadModel(path.join(loaded.dir, "model"));
    model.loadAdapter(path.join(loaded.dir, "adapter"), "reference");
    tokens = Int32Array.from(reference.tokens);
    labels = Int32Array.from(reference.labels);
  });

  afterAll(() => tensors.close());

  it("base logits", async () => {
    model.setActiveAdapter(null);
    const logits = await model.forward(tokens);
    expect(relativeError(logits, tensors.readFloat32("logits_base"))).toBeLessThan(1e-4);
  });

  it("logits with the PEFT adapter", async () => {
    model.setActiveAdapter("reference");
    const logits = await model.forward(tokens);
    expect(relativeError(logits, tensors.readFloat32("logits_lora"))).toBeLessThan(1e-4);
  });

  it("LoRA loss and gradients", async () => {
    model.setActiveAdapter("reference");
    const { loss, grads, count } = await model.lossAndGrad({ tokens, labels });
    if (reference.loss_lora === null) {
      // T = 1: after the shift nothing is predicted; loss 0 and zero gradients.
      expect(tokens.length).toBe(1);
      expect(count).toBe(0);
      expect(loss).toBe(0);
      for (const grad of Object.values(grads)) expect(grad.every((g) => g === 0)).toBe(true);
      return;
    }
    expect(Math.abs(loss - reference.loss_lora)).toBeLessThan(1e-5 * Math.max(1, Math.abs(reference.loss_lora)));
    const expectedNames = tensors.names().filter((n) => n.startsWith("lora_grad/"));
    expect(Object.keys(grads).sort()).toEqual(expectedNames.map((n) => n.slice("lora_grad/".length)).sort());
    for (const expectedName of expectedNames) {
      expect(
        relativeError(grads[expectedName.slice("lora_grad/".length)], tensors.readFloat32(expectedName)),
        expectedName,
      ).toBeLessThan(1e-3);
    }
  });

  it("full-parameter loss and gradients", async () => {
    model.setActiveAdapter(null);
    const { loss, grads, count } = await model.lossAndGrad({ tokens, labels, mode: "full" });
    if (reference.loss_base === null) {
      expect(count).toBe(0);
      expect(loss).toBe(0);
      return;
    }
    expect(Math.abs(loss - reference.loss_base)).toBeLessThan(1e-5 * Math.max(1, Math.abs(reference.loss_base)));
    const expectedNames = tensors.names().filter((n) => n.startsWith("full_grad/"));
    expect(Object.keys(grads).sort()).toEqual(expectedNames.map((n) => n.slice("full_grad/".length)).sort());
    for (const expectedName of expectedNames) {
      expect(
        relativeError(grads[expectedName.slice("full_grad/".length)], tensors.readFloat32(expectedName)),
        expectedName,
      ).toBeLessThan(1e-3);
    }
  });
});

describe("model behaviour on the reference checkpoints", () => {
  let model: Model;
  let tokens: Int32Array;
  let labels: Int32Array;

  beforeAll(async () => {
    const loaded = readCase("llama_gqa");
    loaded.tensors.close();
    model = await loadModel(path.join(loaded.dir, "model"));
    model.loadAdapter(path.join(loaded.dir, "adapter"), "reference");
    tokens = Int32Array.from(loaded.reference.tokens);
    labels = Int32Array.from(loaded.reference.labels);
  });

  it("greedy generation with the KV cache equals argmax of step-wise full forwards", async () => {
    model.setActiveAdapter("reference");
    const prompt = tokens.subarray(0, 9);
    const result = await model.generate(prompt, { maxNewTokens: 12, ignoreEos: true });
    expect(result.tokens.length).toBe(12);
    const sequence = Array.from(prompt);
    for (let step = 0; step < 12; step++) {
      const logits = await model.forward(Int32Array.from(sequence));
      const vocab = model.config.vocabSize;
      const last = logits.subarray((sequence.length - 1) * vocab, sequence.length * vocab);
      let best = 0;
      for (let i = 1; i < vocab; i++) if (last[i] > last[best]) best = i;
      expect(result.tokens[step]).toBe(best);
      sequence.push(best);
    }
  });

  it("KV-cache steps of 1, 3 and 6 tokens give the full forward's logits", async () => {
    // Steps of <= 4 tokens read the cached keys in place; longer ones transpose them first.
    model.setActiveAdapter("reference");
    const vocab = model.config.vocabSize;
    const sequence = tokens.subarray(0, 24);
    const full = await model.forward(sequence);
    await model.native.forward(sequence.subarray(0, 8), { useCache: true, startPosition: 0 });
    let position = 8;
    for (const length of [1, 1, 3, 6, 1, 3, 1]) {
      const step = await model.native.forward(sequence.subarray(position, position + length), {
        useCache: true,
        startPosition: position,
      });
      expect(relativeError(step, full.subarray(position * vocab, (position + length) * vocab))).toBeLessThan(1e-5);
      position += length;
    }
    expect(position).toBe(24);
  });

  it("batched generation of ragged prompts (left padding) equals one-by-one generation", async () => {
    model.setActiveAdapter("reference");
    const prompts = [tokens.subarray(0, 9), tokens.subarray(3, 7), tokens.subarray(10, 30)];
    const batched = await model.generateBatch(prompts, { maxNewTokens: 10, ignoreEos: true });
    for (let i = 0; i < prompts.length; i++) {
      const single = await model.generate(prompts[i], { maxNewTokens: 10, ignoreEos: true });
      expect(Array.from(batched[i].tokens)).toEqual(Array.from(single.tokens));
    }
    // The padded prefill's last-position logits equal each prompt's own.
    const vocab = model.config.vocabSize;
    const padded = new Int32Array(2 * 9);
    padded.set(tokens.subarray(3, 7), 5);
    padded.set(tokens.subarray(0, 9), 9);
    const logits = await model.native.forward(padded, { batch: 2, lastOnly: true, paddings: Int32Array.of(5, 0) });
    const alone = await model.forward(tokens.subarray(3, 7));
    expect(relativeError(logits.subarray(0, vocab), alone.subarray(3 * vocab, 4 * vocab))).toBeLessThan(1e-5);
  });

  it("a batch of two sequences gives the sum of their losses and gradients", async () => {
    model.setActiveAdapter("reference");
    const single = await model.lossAndGrad({ tokens, labels });
    const otherLabels = Int32Array.from(tokens);
    const other = await model.lossAndGrad({ tokens, labels: otherLabels });
    const both = await model.lossAndGrad({
      tokens: Int32Array.from([...tokens, ...tokens]),
      labels: Int32Array.from([...labels, ...otherLabels]),
      batch: 2,
    });
    expect(both.count).toBe(single.count + other.count);
    expect(both.loss).toBeCloseTo((single.loss * single.count + other.loss * other.count) / both.count, 5);
    for (const [name, grad] of Object.entries(both.grads)) {
      const expected = single.grads[name].map(
        (g, i) => (g * single.count + other.grads[name][i] * other.count) / both.count,
      );
      expect(relativeError(grad, expected), name).toBeLessThan(1e-4);
    }
  });

  it("bf16 weights stay close to the f32 reference", async () => {
    const loaded = readCase("llama_gqa");
    const bf16 = await loadModel(path.join(loaded.dir, "model"), { dtype: "bf16" });
    const logits = await bf16.forward(tokens);
    const error = relativeError(logits, loaded.tensors.readFloat32("logits_base"));
    loaded.tensors.close();
    expect(error).toBeGreaterThan(0); // really rounded
    expect(error).toBeLessThan(3e-2);
    await expect(bf16.lossAndGrad({ tokens, labels, mode: "full" })).rejects.toThrow(/f32/);
  });

  it("rejects bad inputs with clear errors", async () => {
    await expect(async () => model.forward(Int32Array.of(1, 2, 9999))).rejects.toThrow(
      /tokens\[2\] = 9999 is outside the vocabulary/,
    );
    await expect(async () => model.forward(new Int32Array(0))).rejects.toThrow(/must not be empty/);
    model.setActiveAdapter("reference");
    await expect(async () => model.lossAndGrad({ tokens, labels: labels.subarray(1) })).rejects.toThrow(
      /labels has length/,
    );
    await expect(async () =>
      model.lossAndGrad({ tokens, labels: Int32Array.from(labels).fill(500, 4, 5) }),
    ).rejects.toThrow(/labels\[4\] = 500/);
    expect(() => model.setActiveAdapter("nope")).toThrow(/no adapter named "nope"/);
    await expect(async () => model.lossAndGrad({ tokens, labels, mode: "full" })).rejects.toThrow(
      /setActiveAdapter\(null\)/,
    );
    expect(() => model.addAdapter("bad", { r: 0, alpha: 1, targetModules: ["q_proj"] })).toThrow(
      /r must be an integer/,
    );
    expect(() => model.addAdapter("bad", { r: 2, alpha: 1, targetModules: ["qkv" as never] })).toThrow(
      /"qkv" is not one of/,
    );
    // the native object checks too
    await expect(model.native.forward(Int32Array.of(1), { startPosition: 3 })).rejects.toThrow(
      /startPosition must be 0 without the KV cache/,
    );
    await expect(model.native.forward(Int32Array.of(1), { startPosition: 100, useCache: true })).rejects.toThrow(
      /past the cached sequence length/,
    );
    expect(() => model.native.setTensor("model.norm.weight", new Float32Array(3))).toThrow(/has 3 values, expected 32/);
    expect(() => model.native.setTensor("model.nope", new Float32Array(3))).toThrow(/unknown tensor/);
  });
});

describe("checkpoint errors", () => {
  let dir = "";
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-bad-model-"));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  function copyModel(name: string): string {
    const target = path.join(dir, name);
    fs.cpSync(path.join(root, "llama_gqa", "model"), target, { recursive: true });
    return target;
  }

  it("names the file and tensor of a missing tensor", async () => {
    const target = copyModel("missing");
    const file = path.join(target, "model.safetensors");
    const source = SafetensorsCheckpoint.open(file);
    const tensors = Object.fromEntries(
      source
        .names()
        .filter((n) => n !== "model.layers.1.mlp.up_proj.weight")
        .map((n) => [n, { dtype: "F32" as const, shape: source.info(n).shape, data: source.readFloat32(n) }]),
    );
    source.close();
    writeSafetensors(file, tensors);
    const error = await loadModel(target).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CheckpointError);
    expect((error as CheckpointError).code).toBe("E_MISSING_TENSOR");
    expect((error as Error).message).toContain("model.layers.1.mlp.up_proj.weight");
    expect((error as Error).message).toContain(file);
  });

  it("names the tensor whose shape disagrees with config.json", async () => {
    const target = copyModel("shape");
    const configFile = path.join(target, "config.json");
    const config = JSON.parse(fs.readFileSync(configFile, "utf8"));
    config.intermediate_size = 50;
    fs.writeFileSync(configFile, JSON.stringify(config));
    await expect(loadModel(target)).rejects.toThrow(/gate_proj\.weight.*does not match config\.json/);
  });

  it("rejects an unknown architecture and a malformed config", async () => {
    const target = copyModel("architecture");
    const configFile = path.join(target, "config.json");
    const config = JSON.parse(fs.readFileSync(configFile, "utf8"));
    fs.writeFileSync(configFile, JSON.stringify({ ...config, architectures: ["GPT2LMHeadModel"] }));
    await expect(loadModel(target)).rejects.toBeInstanceOf(ConfigError);
    fs.writeFileSync(configFile, "{ not json");
    await expect(loadModel(target)).rejects.toThrow(/config\.json/);
  });

  it("rejects a truncated weights file", async () => {
    const target = copyModel("truncated");
    const file = path.join(target, "model.safetensors");
    fs.truncateSync(file, fs.statSync(file).size - 100);
    await expect(loadModel(target)).rejects.toBeInstanceOf(CheckpointError);
  });

  it("rejects an adapter whose factors do not fit the model", async () => {
    const model = await loadModel(path.join(root, "llama_gqa", "model"));
    const adapter = path.join(dir, "adapter");
    fs.cpSync(path.join(root, "qwen2_tied_bias", "adapter"), adapter, { recursive: true });
    expect(() => model.loadAdapter(adapter)).toThrow(/does not match|missing|not target/);
    expect(model.adapterNames()).toEqual([]);
  });
});
