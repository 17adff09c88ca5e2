// The continuous batcher and the native sequence step it drives: logits against the model's own
// KV-cache forward (a second implementation, itself checked against PyTorch in model.test.ts),
// batch invariance (each request alone vs all together), chunked prefill, the KV budget, aborts.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BatchRequest, ContinuousBatcher } from "./continuous-batcher.js";
import { loadModel } from "./load-model.js";
import type { Model } from "./model.js";
import { peftTensorName } from "./peft.js";
import { Random } from "./random.js";
import { createTinyModel } from "./tiny-model.js";
import { relativeError } from "./test-relative-error.js";

let dir = "";
let model: Model;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-batcher-"));
  createTinyModel(dir, { hiddenSize: 64, numLayers: 2, numHeads: 4, numKeyValueHeads: 2, seed: 11, initStd: 0.08 });
  model = await loadModel(dir);
  // Two adapters with non-zero B (a fresh adapter's B is zero, which would hide a wrong row mapping).
  const random = new Random(5);
  for (const [name, modules, r] of [
    ["left", ["q_proj", "v_proj", "down_proj"], 4],
    ["right", ["k_proj", "o_proj", "gate_proj", "up_proj"], 8],
  ] as const) {
    model.addAdapter(name, { r, alpha: 2 * r, targetModules: [...modules], seed: r });
    for (const [tensorName, data] of Object.entries(model.adapterTensors(name))) {
      if (!tensorName.includes("lora_B")) continue;
      const match = /layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.lora_B/.exec(tensorName);
      if (!match) throw new Error(tensorName);
      const values = Float32Array.from(data, () => (random.next() - 0.5) * 0.4);
      expect(peftTensorName(Number(match[1]), match[2] as never, "B")).toBe(tensorName);
      model.native.setAdapterTensor(name, Number(match[1]), match[2] as never, "B", values);
    }
  }
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("forwardSequences", () => {
  it("matches the KV-cache forward per sequence, with mixed adapters and chunked prefill in one step", async () => {
    const vocab = model.config.vocabSize;
    const prompts = ["the quick brown fox", "jumps over", "the lazy dog and keeps running"].map((text) =>
      model.encodePrompt(text),
    );
    const adapters = [null, "left", "right"];
    const expected: Float32Array[] = [];
    for (let i = 0; i < prompts.length; i++) {
      model.setActiveAdapter(adapters[i]);
      expected.push(await model.native.forward(prompts[i], { useCache: true, startPosition: 0, lastOnly: true }));
    }
    model.setActiveAdapter(null);
    const ids = prompts.map((prompt) => model.native.createSequence(prompt.length));
    try {
      // Step 1: the first 5 tokens of each; step 2: the rest.
      const first = prompts.map((prompt) => prompt.subarray(0, 5));
      await model.native.forwardSequences(
        Int32Array.from(first.flatMap((tokens) => [...tokens])),
        ids.map((sequence, i) => ({ sequence, start: 0, count: 5, adapter: adapters[i] })),
      );
      const rest = prompts.map((prompt) => prompt.subarray(5));
      const logits = await model.native.forwardSequences(
        Int32Array.from(rest.flatMap((tokens) => [...tokens])),
        ids.map((sequence, i) => ({ sequence, start: 5, count: rest[i].length, adapter: adapters[i] })),
      );
      for (let i = 0; i < prompts.length; i++) {
        expect(relativeError(logits.subarray(i * vocab, (i + 1) * vocab), expected[i])).toBeLessThan(1e-5);
      }
      // The adapters change the answer (so the comparison above saw them).
      expect(relativeError(expected[1], expected[0])).toBeGreaterThan(1e-3);
    } finally {
      for (const id of ids) model.native.releaseSequence(id);
    }
    expect(model.native.sequenceCount()).toBe(0);
  });

  it("reads a weight changed after an earlier step (its packed copy is not kept)", async () => {
    const prompt = model.encodePrompt("weights change between steps");
    const vocab = model.config.vocabSize;
    const run = async () => {
      const id = model.native.createSequence(prompt.length);
      try {
        return (await model.native.forwardSequences(prompt, [{ sequence: id, start: 0, count: prompt.length }])).slice(
          0,
          vocab,
        );
      } finally {
        model.native.releaseSequence(id);
      }
    };
    const name = "model.layers.0.mlp.up_proj.weight";
    const original = model.native.getTensor(name);
    const before = await run();
    try {
      model.native.setTensor(
        name,
        Float32Array.from(original, (value, i) => value * (1 + 0.5 * Math.sin(i))),
      );
      const after = await run();
      const expected = await model.native.forward(prompt, { useCache: true, startPosition: 0, lastOnly: true });
      expect(relativeError(after, expected)).toBeLessThan(1e-5);
      expect(relativeError(after, before)).toBeGreaterThan(1e-3);
    } finally {
      model.native.setTensor(name, original);
    }
    expect(relativeError(await run(), before)).toBe(0);
  });

  it("rejects bad steps before any work, naming the step", async () => {
    const id = model.native.createSequence(8);
    try {
      await expect(
        model.native.forwardSequences(Int32Array.of(1, 2), [{ sequence: id, start: 1, count: 2 }]),
      ).rejects.toMatchObject({
        code: "E_ARGUMENT",
        message: expect.stringContaining("steps[0].start = 1 must equal the sequence's cached length 0"),
      });
      await expect(
        model.native.forwardSequences(Int32Array.of(1), [{ sequence: id + 1000, start: 0, count: 1 }]),
      ).rejects.toMatchObject({
        message: expect.stringContaining("is not a live sequence"),
      });
      await expect(
        model.native.forwardSequences(Int32Array.of(1, 2), [{ sequence: id, start: 0, count: 1 }]),
      ).rejects.toMatchObject({
        code: "E_SHAPE",
      });
      await expect(
        model.native.forwardSequences(Int32Array.of(1), [{ sequence: id, start: 0, count: 1, adapter: "nope" }]),
      ).rejects.toMatchObject({
        message: expect.stringContaining('no adapter named "nope"'),
      });
      await expect(
        model.native.forwardSequences(
          Int32Array.from({ length: 9 }, () => 1),
          [{ sequence: id, start: 0, count: 9 }],
        ),
      ).rejects.toMatchObject({
        message: expect.stringContaining("exceed the sequence's capacity 8"),
      });
      expect(() => model.native.createSequence(model.config.maxPositionEmbeddings + 1)).toThrow(
        /max_position_embeddings/,
      );
    } finally {
      model.native.releaseSequence(id);
    }
  });
});

const requests: BatchRequest[] = Array.from({ length: 12 }, (_, i) => ({
  prompt: `request ${i}: ${"tell me about the weather ".repeat(1 + (i % 4))}`,
  adapter: [null, "left", "right"][i % 3],
  options:
    i % 4 === 3
      ? { maxNewTokens: 12 + i, temperature: 0.9, topK: 20, seed: 100 + i }
      : { maxNewTokens: 10 + i, temperature: 0, presencePenalty: i % 4 === 1 ? 1.5 : 0, ignoreEos: true },
}));

async function collect(batcher: ContinuousBatcher, request: BatchRequest) {
  const stream = batcher.submit(request);
  let streamed = "";
  for await (const chunk of stream) streamed += chunk.text;
  const result = await stream.result;
  expect(streamed).toBe(result.text);
  return result;
}

describe("ContinuousBatcher", () => {
  it("gives every request the same tokens alone as in a batch of mixed adapters, options and lengths", async () => {
    const batcher = new ContinuousBatcher(model, { prefillChunk: 16 });
    // Request 2 stops at a character of its own unstopped answer, past its first few.
    const unstopped = await collect(batcher, requests[2]);
    const stop = [...unstopped.text]
      .slice(4)
      .find((character) => character !== "\uFFFD" && character.trim() !== "") as string;
    requests[2].options = { ...requests[2].options, stop: [stop] };
    const alone = [];
    for (const request of requests) alone.push(await collect(batcher, request));
    const together = await Promise.all(requests.map((request) => collect(batcher, request)));
    for (let i = 0; i < requests.length; i++) {
      expect(Array.from(together[i].tokens)).toEqual(Array.from(alone[i].tokens));
      expect(together[i].text).toBe(alone[i].text);
      expect(together[i].finishReason).toBe(alone[i].finishReason);
    }
    // The stop string ended request 2 where its unstopped answer has it.
    expect(alone[2].finishReason).toBe("stop");
    expect(alone[2].text).toBe(unstopped.text.slice(0, unstopped.text.indexOf(stop)));
    expect(model.native.sequenceCount()).toBe(0);
  });

  it("samples the first token from logits equal (to rounding) to the model's own forward, prompts longer than a chunk included", async () => {
    const batcher = new ContinuousBatcher(model, { prefillChunk: 7 });
    const prompt = "a prompt that is longer than seven tokens by some way";
    const tokens = model.encodePrompt(prompt);
    model.setActiveAdapter("right");
    const logits = await model.native.forward(tokens, { useCache: true, startPosition: 0, lastOnly: true });
    model.setActiveAdapter(null);
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    const result = await collect(batcher, { prompt, adapter: "right", options: { maxNewTokens: 1, ignoreEos: true } });
    expect(result.tokens[0]).toBe(best);
    expect(result.promptTokens).toBe(tokens.length);
  });

  it("a presence penalty reaches the sampler: the greedy answer changes and repeats fewer tokens", async () => {
    const batcher = new ContinuousBatcher(model);
    const plain = await collect(batcher, { prompt: "aaaa", options: { maxNewTokens: 24, ignoreEos: true } });
    const penalised = await collect(batcher, {
      prompt: "aaaa",
      options: { maxNewTokens: 24, ignoreEos: true, presencePenalty: 2 },
    });
    expect(Array.from(penalised.tokens)).not.toEqual(Array.from(plain.tokens));
    // With presence_penalty 2 every seen token loses 2 logits; the answer has more distinct tokens.
    expect(new Set(penalised.tokens).size).toBeGreaterThan(new Set(plain.tokens).size);
  });

  it("keeps the KV cache within its budget: requests beyond it wait and then complete", async () => {
    const perSequence = model.native.sequenceBytes(model.encodePrompt("x".repeat(20)).length + 16);
    const batcher = new ContinuousBatcher(model, { kvCacheBytes: 2 * perSequence });
    let peak = 0;
    let waited = 0;
    const streams = Array.from({ length: 6 }, (_, i) =>
      collect(batcher, { prompt: "x".repeat(20), options: { maxNewTokens: 16, ignoreEos: true, seed: i } }),
    );
    const watcher = setInterval(() => {
      const stats = batcher.stats();
      peak = Math.max(peak, stats.kvCacheBytesUsed);
      waited = Math.max(waited, stats.waiting);
    }, 1);
    const results = await Promise.all(streams);
    clearInterval(watcher);
    expect(results.every((result) => result.tokens.length === 16)).toBe(true);
    expect(peak).toBeLessThanOrEqual(2 * perSequence);
    expect(waited).toBeGreaterThan(0);
    expect(batcher.stats()).toMatchObject({ running: 0, waiting: 0, kvCacheBytesUsed: 0 });
    expect(() => batcher.submit({ prompt: "x".repeat(200), options: { maxNewTokens: 64 } })).toThrowError(
      expect.objectContaining({ code: "E_KV_BUDGET", message: expect.stringContaining("--kv-cache-mb") }),
    );
  });

  it("refuses a prompt longer than the context, naming the limit", () => {
    const batcher = new ContinuousBatcher(model);
    const long = "y".repeat(model.config.maxPositionEmbeddings + 5);
    expect(() => batcher.submit({ prompt: long })).toThrowError(
      expect.objectContaining({
        code: "E_CONTEXT_LENGTH",
        message: expect.stringContaining(`is ${model.config.maxPositionEmbeddings} tokens`),
      }),
    );
  });

  it("ends an aborted request at the next step and frees its cache; its companions finish", async () => {
    const batcher = new ContinuousBatcher(model);
    const controller = new AbortController();
    const doomed = batcher.submit({
      prompt: "abort me",
      options: { maxNewTokens: 200, ignoreEos: true },
      signal: controller.signal,
    });
    const survivor = collect(batcher, { prompt: "keep me", options: { maxNewTokens: 30, ignoreEos: true } });
    let seen = 0;
    await expect(
      (async () => {
        for await (const _ of doomed) if (++seen === 3) controller.abort();
      })(),
    ).rejects.toMatchObject({ code: "E_ABORTED" });
    expect((await survivor).tokens.length).toBe(30);
    await expect(doomed.result).rejects.toMatchObject({ code: "E_ABORTED" });
    expect(model.native.sequenceCount()).toBe(0);
  });
});
