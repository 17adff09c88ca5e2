import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { type AdapterOptions, createTinyModel, loadModel, NativeBackend, train } from "@pillow/core";
import { buildSuite, formatPrompt, formatResponse, rougeL } from "@pillow/suite";
import { afterAll, describe, expect, it } from "vitest";
import { backendEmbedder } from "../embedding/embedder.js";
import { createLlmTagger } from "../tagging/llm-tagger.js";
import { createLoraLearner } from "./lora-learner.js";
import { runContinual } from "./run-continual.js";

describe("createLoraLearner on a tiny random LLaMA (3 suite tasks)", () => {
  const directory = mkdtempSync(path.join(tmpdir(), "pillow-replay-learner-"));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it("trains one adapter stage by stage, evaluates by generation + ROUGE-L, and runs runContinual", async () => {
    createTinyModel(directory, { hiddenSize: 32, numLayers: 1, numHeads: 2, seed: 3 });
    const model = await loadModel(directory);
    const learner = createLoraLearner(model, {
      adapter: { r: 4, alpha: 8, targetModules: ["q_proj", "v_proj"], seed: 1 },
      train: { lr: 5e-3, batchSize: 4, maxLength: 192 },
      generate: { maxNewTokens: 6 },
    });
    expect(model.activeAdapter).toBe(learner.adapter);

    const suite = buildSuite({ seed: 1, trainPerTask: 12, testPerTask: 3 });
    const tasks = suite.tasks.slice(0, 3).map((task) => ({ name: task.name, train: task.train, test: task.test }));

    // evaluate() is the mean of ROUGE-L · 100 over greedy generations, recomputed here independently.
    const test = tasks[0].test;
    const score = await learner.evaluate(test, tasks[0].name);
    const generations = await model.generateBatch(
      test.map((instance) => formatPrompt(instance)),
      { maxNewTokens: 6, stop: ["\n"] },
    );
    const expected =
      generations.reduce((sum, generation, k) => sum + rougeL(generation.text.trim(), test[k].output) * 100, 0) /
      test.length;
    expect(score).toBeCloseTo(expected, 10);

    const losses: number[][] = [];
    const result = await runContinual({
      learner,
      tasks,
      strategy: "inscl",
      replayPerTask: 4,
      seed: 5,
      tagMerge: { minSamples: 2 },
      onStage: (report) => void losses.push(report.losses),
    });
    expect(result.scores.map((row) => row.length)).toEqual([1, 2, 3]);
    for (const row of result.scores) for (const value of row) expect(value).toBeGreaterThanOrEqual(0);
    for (const row of result.scores) for (const value of row) expect(value).toBeLessThanOrEqual(100);
    // 12 task instances (+4·i replayed) in batches of 4 → 3, 4, 5 optimizer steps, each with a finite loss.
    expect(losses.map((stage) => stage.length)).toEqual([3, 4, 5]);
    for (const stage of losses) for (const loss of stage) expect(Number.isFinite(loss)).toBe(true);
    expect(result.plans[2].perTask.reduce((sum, entry) => sum + entry.count, 0)).toBe(8);

    // runContinual({ model }) wraps a core Model in a LoRA learner of its own.
    const fresh = await loadModel(directory);
    const viaModel = await runContinual({
      model: fresh,
      loraLearner: {
        adapter: { r: 2, alpha: 4, targetModules: ["v_proj"] },
        train: { batchSize: 8 },
        generate: { maxNewTokens: 2 },
      },
      tasks: tasks.slice(0, 2),
      strategy: "uniform",
      replayPerTask: 2,
    });
    expect(fresh.activeAdapter).toBe("continual");
    expect(viaModel.scores.map((row) => row.length)).toEqual([1, 2]);

    // The same Model behind core's NativeBackend: its embeddings feed the task distances, and the LLM
    // tagger, asking an untrained model for JSON, fails with the clear error after its retries.
    const backend = new NativeBackend(fresh);
    const vectors = await backendEmbedder(backend).embed(["Classify the word.", "Pluralise the noun."]);
    expect(vectors.map((vector) => vector.length)).toEqual([32, 32]);
    await expect(
      createLlmTagger(backend, { attempts: 2, generate: { maxNewTokens: 4 } }).tag(["Pluralise the noun."]),
    ).rejects.toThrow(/no JSON tag list for instruction 0 \("Pluralise the noun\."\) after 2 attempts/);
  });
});

describe("createLoraLearner with a named adapter", () => {
  const directory = mkdtempSync(path.join(tmpdir(), "pillow-replay-named-"));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it("trains and scores the named adapter even when another is active, and reports progress", async () => {
    createTinyModel(directory, { hiddenSize: 32, numLayers: 1, numHeads: 2, seed: 4 });
    const model = await loadModel(directory);
    const options: AdapterOptions = { r: 2, alpha: 4, targetModules: ["v_proj"], seed: 1 };
    model.addAdapter("other", options);
    model.addAdapter("mine", options);
    expect(() => createLoraLearner(model, { adapter: "missing" })).toThrow(
      /no adapter "missing" \(it has: other, mine\)/,
    );
    const evaluated: number[] = [];
    const learner = createLoraLearner(model, {
      adapter: "mine",
      train: { lr: 1e-2, batchSize: 4, maxLength: 128 },
      generate: { maxNewTokens: 2 },
      onEvaluated: (count) => evaluated.push(count),
    });
    const instances = buildSuite({ seed: 3, trainPerTask: 8, testPerTask: 2 }).tasks[0];
    const tokens = model.tokenizer!.encode(formatPrompt(instances.test[0]));
    model.setActiveAdapter("other");
    const otherBefore = await model.forward(tokens);
    await learner.trainStage(instances.train, 0, "first");
    await learner.evaluate(instances.test, "first");
    expect(learner.stageLosses.map((losses) => losses.length)).toEqual([2]);
    expect(evaluated).toEqual([2]);
    // Only "mine" moved: "other" gives the same logits as before, "mine" different ones.
    model.setActiveAdapter("other");
    expect(Array.from(await model.forward(tokens))).toEqual(Array.from(otherBefore));
    model.setActiveAdapter("mine");
    expect(Array.from(await model.forward(tokens))).not.toEqual(Array.from(otherBefore));
  });
});

describe("createLoraLearner's training target", () => {
  const directory = mkdtempSync(path.join(tmpdir(), "pillow-replay-target-"));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it("trains on formatResponse's text with the given train options (same losses as core's train on those pairs)", async () => {
    createTinyModel(directory, { hiddenSize: 32, numLayers: 1, numHeads: 2, seed: 5 });
    const instances = buildSuite({ seed: 2, trainPerTask: 6, testPerTask: 1 }).tasks[0].train;
    const adapter: AdapterOptions = { r: 4, alpha: 8, targetModules: ["q_proj", "v_proj"], seed: 2 };
    const trainOptions = { lr: 5e-3, batchSize: 3, appendEos: false, seed: 7 } as const;

    const learnerModel = await loadModel(directory);
    const learner = createLoraLearner(learnerModel, {
      adapter,
      train: trainOptions,
      formatPrompt: (instance) => formatPrompt(instance),
      formatResponse: (instance) => formatResponse(instance.output),
    });
    const losses = (await learner.trainStage(instances, 0, "first"))?.losses ?? [];

    const referenceModel = await loadModel(directory);
    referenceModel.addAdapter("reference", adapter);
    referenceModel.setActiveAdapter("reference");
    const pairs = instances.map((instance) => ({ prompt: formatPrompt(instance), response: `${instance.output}\n` }));
    const reference = await train(referenceModel, pairs, { ...trainOptions, epochs: 1, mode: "lora", seed: 7 });
    expect(losses.length).toBe(reference.losses.length);
    for (const [i, loss] of losses.entries()) expect(loss).toBeCloseTo(reference.losses[i], 10);

    // With the default target (output + EOS) the first loss differs: the target text really changed.
    const eosModel = await loadModel(directory);
    const eosLearner = createLoraLearner(eosModel, { adapter, train: { ...trainOptions, appendEos: true } });
    const eosLosses = (await eosLearner.trainStage(instances, 0, "first"))?.losses ?? [];
    expect(eosLosses.length).toBe(losses.length);
    expect(Math.abs(eosLosses[0] - losses[0])).toBeGreaterThan(1e-3);
  });
});
