// The "loglik" rollout reward on a real micro model: the mean log-probability per reference token,
// checked against core's lossAndGrad loss on the same prompt and continuation (loss = −mean log p),
// plus its cache and the error for a backend that cannot score.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createTinyModel, loadModel, type Model, NativeBackend } from "@pillow/core";
import { PromptPool } from "@pillow/matcher";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultTemplate, RolloutCache, runRollouts } from "./rollout.js";

let root = "";
let model: Model;

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-loglik-"));
  createTinyModel(path.join(root, "micro"), {
    hiddenSize: 32,
    numLayers: 2,
    numHeads: 4,
    numKeyValueHeads: 2,
    maxPositionEmbeddings: 256,
    seed: 5,
    initStd: 0.3,
  });
  model = await loadModel(path.join(root, "micro"));
});

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const pool = new PromptPool([
  { id: "a", instruction: "Add", input: "1 1", output: "2" },
  { id: "b", instruction: "Greet", output: "hello" },
]);

describe('reward "loglik"', () => {
  it("is −lossAndGrad's loss on prompt + continuation, cached per (query, demos)", async () => {
    const backend = new NativeBackend(model);
    const cache = new RolloutCache();
    const continuation = (reference: string) => `${reference}\n`;
    const context = { backend, pool, cache, reward: "loglik" as const, template: defaultTemplate, continuation };
    const requests = [
      { query: "Add", input: "2 2", reference: "4", ids: [0] },
      { query: "Greet", reference: "hello there", ids: [1, 0] },
      { query: "Greet", reference: "hello there", ids: [] },
    ];
    const results = await runRollouts(context, requests);
    const tokenizer = model.tokenizer!;
    for (const [index, request] of requests.entries()) {
      const prompt = tokenizer.encode(
        defaultTemplate(
          request.ids.map((id) => pool.get(id)),
          request.query,
          request.input,
        ),
        { addSpecialTokens: true },
      );
      const answer = tokenizer.encode(continuation(request.reference), { addSpecialTokens: false });
      const tokens = Int32Array.from([...prompt, ...answer]);
      const labels = Int32Array.from(tokens, (token, t) => (t < prompt.length ? -100 : token));
      const { loss } = await model.lossAndGrad({ tokens, labels, mode: "full" });
      expect(results[index].reward).toBeCloseTo(-loss, 4);
      expect(results[index].answer).toBe("");
    }
    // Demonstrations change the prompt, so the reward differs between the two Greet rollouts.
    expect(Math.abs(results[1].reward - results[2].reward)).toBeGreaterThan(1e-4);
    expect(cache.stats()).toEqual({ hits: 0, misses: 3, entries: 3 });
    const again = await runRollouts(context, requests.slice(0, 2));
    expect(again.map((result) => result.reward)).toEqual(results.slice(0, 2).map((result) => result.reward));
    expect(cache.hits).toBe(2);
  });

  it("names the problem when the backend cannot score or the reference is empty", async () => {
    const generateOnly = {
      name: "http",
      generate: async () => ({ text: "" }),
      generateBatch: async (prompts: string[]) => prompts.map(() => ({ text: "" })),
    };
    await expect(
      runRollouts({ backend: generateOnly, pool, reward: "loglik" }, [{ query: "q", reference: "r", ids: [] }]),
    ).rejects.toThrow(/reward "loglik" needs a backend that scores continuations \(http has no score\(\)/);
    await expect(
      runRollouts({ backend: new NativeBackend(model), pool, reward: "loglik" }, [
        { query: "q", reference: "", ids: [] },
      ]),
    ).rejects.toThrow(/has no tokens to score/);
  });
});
