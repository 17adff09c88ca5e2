// ReplayError's class and code on real bad input: a tagger backend that always fails or never answers
// JSON, an embedder that drops a vector, a solver given too few pivots, an adapter name the model lacks.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createTinyModel, type GenerationBackend, loadModel } from "@pillow/core";
import { afterAll, describe, expect, it } from "vitest";
import { createLoraLearner } from "./continual/lora-learner.js";
import { runContinual } from "./continual/run-continual.js";
import { ReplayError } from "./errors.js";
import { createLlmTagger } from "./tagging/llm-tagger.js";
import { mergeSimilarTags } from "./tagging/merge-tags.js";
import { solveTransport } from "./wasserstein/network-simplex.js";

function backendReplying(reply: () => string): GenerationBackend {
  return {
    name: "scripted",
    generate: async () => ({ text: reply() }),
    generateBatch: async (prompts) => prompts.map(() => ({ text: reply() })),
  };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error,
  );
}

describe("ReplayError", () => {
  it("the LLM tagger: E_TAGGER_BACKEND (with the backend's error as cause) and E_TAGGER_REPLY", async () => {
    const failing = backendReplying(() => {
      throw new Error("connection refused");
    });
    const backendError = await rejection(createLlmTagger(failing, { attempts: 2 }).tag(["Add the numbers."]));
    expect(backendError).toBeInstanceOf(ReplayError);
    expect(backendError).toMatchObject({ code: "E_TAGGER_BACKEND", name: "ReplayError" });
    expect(((backendError as Error).cause as Error).message).toBe("connection refused");
    const prose = await rejection(
      createLlmTagger(
        backendReplying(() => "no tags here"),
        { attempts: 2 },
      ).tag(["Add the numbers."]),
    );
    expect(prose).toMatchObject({ code: "E_TAGGER_REPLY" });
    expect((prose as Error).message).toMatch(/after 2 attempts; last reply: "no tags here"/);
  });

  it("an embedder that returns one vector too few: E_EMBEDDER_OUTPUT", async () => {
    const embedder = {
      name: "short",
      embed: async (texts: readonly string[]) => texts.slice(1).map(() => Float32Array.of(1, 0)),
    };
    const error = await rejection(mergeSimilarTags([["sum"], ["addition"]], { embedder }));
    expect(error).toBeInstanceOf(ReplayError);
    expect(error).toMatchObject({ code: "E_EMBEDDER_OUTPUT" });
  });

  it("a learner whose evaluate or look-ahead answers malformed results: E_LEARNER_OUTPUT", async () => {
    const tasks = ["a", "b"].map((name) => ({
      name,
      train: [{ instruction: `${name} instruction`, output: name }],
      test: [{ instruction: `${name} instruction`, output: name }],
    }));
    const learner = (evaluate: number, losses: number) => ({
      trainStage: async () => undefined,
      evaluate: async () => evaluate,
      probeInterference: async () => ({ before: new Array(losses).fill(1), after: new Array(losses).fill(1) }),
    });
    const notFinite = await rejection(
      runContinual({ learner: learner(Number.NaN, 1), tasks, strategy: "random", replayPerTask: 1 }),
    );
    expect(notFinite).toBeInstanceOf(ReplayError);
    expect(notFinite).toMatchObject({
      code: "E_LEARNER_OUTPUT",
      message: expect.stringMatching(/learner.evaluate returned NaN for task "a"/),
    });
    const short = await rejection(
      runContinual({ learner: learner(50, 0), tasks, strategy: "interference", replayPerTask: 1 }),
    );
    expect(short).toMatchObject({
      code: "E_LEARNER_OUTPUT",
      message: expect.stringMatching(/probeInterference returned 0 \/ 0 losses for 1 earlier tasks/),
    });
  });

  it("the exact solver out of pivots: E_SOLVER; a cost matrix of the wrong size stays a RangeError", () => {
    const a = Float64Array.from([0.5, 0.3, 0.2]);
    const b = Float64Array.from([0.2, 0.3, 0.5]);
    // The north-west start is far from optimal under these costs, so the solver must pivot.
    const costs = Float64Array.from([9, 5, 1, 5, 1, 5, 1, 5, 9]);
    expect(solveTransport(a, b, costs).cost).toBeCloseTo(0.5 * 1 + 0.3 * 1 + 0.2 * 1, 12);
    let error: unknown;
    try {
      solveTransport(a, b, costs, { maxPivots: 0 });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ReplayError);
    expect(error).toMatchObject({ code: "E_SOLVER" });
    expect(() => solveTransport(a, b, costs.subarray(1))).toThrow(RangeError);
  });

  describe("a LoRA learner on a real micro model", () => {
    const directory = mkdtempSync(path.join(tmpdir(), "pillow-replay-errors-"));
    afterAll(() => rmSync(directory, { recursive: true, force: true }));

    it("an adapter name the model lacks: E_UNKNOWN_ADAPTER with the field", async () => {
      createTinyModel(directory, { hiddenSize: 32, numLayers: 1, numHeads: 2, seed: 4 });
      const model = await loadModel(directory);
      model.addAdapter("mine", { r: 2, alpha: 4, targetModules: ["v_proj"], seed: 1 });
      let error: unknown;
      try {
        createLoraLearner(model, { adapter: "missing" });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ReplayError);
      expect(error).toMatchObject({ code: "E_UNKNOWN_ADAPTER", field: "adapter" });
      expect((error as Error).message).toMatch(/no adapter "missing" \(it has: mine\)/);
    });
  });
});
