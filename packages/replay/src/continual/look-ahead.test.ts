// The interference look-ahead on a tiny random LLaMA: it must leave the trained adapter bit-identical,
// and its probe losses are the loss-only losses of the adapter before / of its trained copy after.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createTinyModel, exampleLosses, loadModel } from "@pillow/core";
import { buildSuite, formatPrompt, formatResponse } from "@pillow/suite";
import { afterAll, describe, expect, it } from "vitest";
import { createLoraLearner } from "./lora-learner.js";
import { runContinual } from "./run-continual.js";

const directory = mkdtempSync(path.join(tmpdir(), "pillow-replay-look-ahead-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

const bytesOf = (tensors: Record<string, Float32Array>) =>
  Object.fromEntries(
    Object.entries(tensors).map(([name, data]) => [
      name,
      Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64"),
    ]),
  );

describe("probeInterference (the look-ahead)", () => {
  it("leaves the adapter bit-identical; before = the adapter's losses; training lowers the current task's own loss", async () => {
    createTinyModel(directory, { hiddenSize: 32, numLayers: 1, numHeads: 2, seed: 9 });
    const model = await loadModel(directory);
    const learner = createLoraLearner(model, {
      adapter: { name: "cl", r: 4, alpha: 8, targetModules: ["q_proj", "v_proj"], seed: 2 },
      train: { lr: 2e-2, batchSize: 4, maxLength: 192, appendEos: false },
      formatPrompt: (instance) => formatPrompt(instance),
      formatResponse: (instance) => formatResponse(instance.output),
      lookAheadSteps: 3,
    });
    const suite = buildSuite({ seed: 0, trainPerTask: 12, testPerTask: 2 });
    const [first, second] = suite.tasks;
    await learner.trainStage(first.train, 0, first.name);
    const snapshot = bytesOf(model.adapterTensors("cl"));
    const probes = [first.train.slice(0, 4), second.train.slice(0, 4)];
    const probe = await learner.probeInterference!(second.train, probes, 1);
    // Bit-identical weights, the same active adapter, and no adapter left behind.
    expect(bytesOf(model.adapterTensors("cl"))).toEqual(snapshot);
    expect(model.activeAdapter).toBe("cl");
    expect(model.adapterNames()).toEqual(["cl"]);
    // "before" is the unchanged adapter's mean loss per probe set, computed independently here.
    const examples = (instances: typeof first.train) =>
      instances.map((instance) => ({ prompt: formatPrompt(instance), response: formatResponse(instance.output) }));
    for (const [k, instances] of probes.entries()) {
      const losses = await exampleLosses(model, examples(instances), { appendEos: false });
      expect(probe.before[k]).toBeCloseTo(losses.reduce((sum, value) => sum + value, 0) / losses.length, 10);
    }
    // Three steps on the second task at lr 2e-2 lower that task's own probe loss.
    expect(probe.after[1]).toBeLessThan(probe.before[1]);
    // Deterministic: a second look-ahead from the same adapter measures the same.
    expect(await learner.probeInterference!(second.train, probes, 1)).toEqual(probe);
    expect(bytesOf(model.adapterTensors("cl"))).toEqual(snapshot);
  });

  it("runContinual with interference: replays R·i, records the look-ahead and its cost", async () => {
    const model = await loadModel(directory);
    const learner = createLoraLearner(model, {
      adapter: { r: 4, alpha: 8, targetModules: ["q_proj", "v_proj"], seed: 1 },
      train: { lr: 5e-3, batchSize: 4, maxLength: 192 },
      generate: { maxNewTokens: 4 },
      lookAheadSteps: 2,
    });
    const suite = buildSuite({ seed: 1, trainPerTask: 8, testPerTask: 2 });
    const tasks = suite.tasks.slice(0, 3).map((task) => ({ name: task.name, train: task.train, test: task.test }));
    const result = await runContinual({
      learner,
      tasks,
      strategy: "interference",
      replayPerTask: 4,
      probePerTask: 3,
      seed: 2,
      tagMerge: { minSamples: 2 },
    });
    expect(result.plans.map((plan) => plan.budget)).toEqual([0, 4, 8]);
    expect(result.lookAheads[0]).toBeUndefined();
    expect(result.lookAheads[2]!.before.length).toBe(2);
    expect(result.lookAheads[2]!.seconds).toBeGreaterThan(0);
    const increases = result.lookAheads[2]!.after.map((after, j) => after - result.lookAheads[2]!.before[j]);
    expect(result.plans[2].perTask.map((entry) => entry.increase)).toEqual(increases);
    // Floor ⌊0.5·8/2⌋ = 2 each (the default floor share); the other 4 ∝ max(0, increase).
    const counts = result.plans[2].perTask.map((entry) => entry.count);
    expect(counts.reduce((sum, value) => sum + value, 0)).toBe(8);
    for (const count of counts) expect(count).toBeGreaterThanOrEqual(1);
  });
});
