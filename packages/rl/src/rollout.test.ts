import type { GenerateOptions, GenerationBackend } from "@pillow/core";
import { PromptPool } from "@pillow/matcher";
import { describe, expect, it } from "vitest";
import { defaultTemplate, RolloutCache, runRollouts } from "./rollout.js";

const pool = new PromptPool([
  { id: "a", instruction: "Add", input: "1 1", output: "2" },
  { id: "b", instruction: "Greet", output: "hello" },
]);

function recordingBackend(answer: (prompt: string) => string) {
  const batches: { prompts: string[]; options?: GenerateOptions }[] = [];
  const backend: GenerationBackend = {
    name: "recorder",
    generate: async (prompt) => ({ text: answer(prompt) }),
    generateBatch: async (prompts, options) => {
      batches.push({ prompts: prompts.slice(), options });
      return prompts.map((prompt) => ({ text: answer(prompt) }));
    },
  };
  return { backend, batches };
}

describe("runRollouts and RolloutCache", () => {
  it("formats prompts with the template, scores answers, and counts cache hits", async () => {
    const { backend, batches } = recordingBackend((prompt) => (prompt.includes("hello") ? "hello world" : "nothing"));
    const cache = new RolloutCache();
    const context = { backend, pool, cache, reward: "rougeL" as const, template: defaultTemplate };
    const first = await runRollouts(context, [
      { query: "Say hi", reference: "hello world", ids: [1] },
      { query: "Say hi", reference: "hello world", ids: [] },
      { query: "Say hi", reference: "hello world", ids: [1] }, // same key within one batch: sent once
    ]);
    expect(first.map((result) => result.reward)).toEqual([1, 0, 1]);
    expect(first[0].prompt).toBe(
      "### Instruction:\nGreet\n\n### Response:\nhello\n\n### Instruction:\nSay hi\n\n### Response:\n",
    );
    expect(batches.length).toBe(1);
    expect(batches[0].prompts.length).toBe(2);
    expect(batches[0].options).toEqual({ maxNewTokens: 64, temperature: 0 });
    expect(cache.stats()).toEqual({ hits: 1, misses: 2, entries: 2 });

    // Order of ids matters (it changes the prompt); the same ids in the same order hit the cache.
    await runRollouts(context, [
      { query: "Say hi", reference: "hello world", ids: [1] },
      { query: "Say hi", reference: "x", ids: [0, 1] },
      { query: "Say hi", reference: "x", ids: [1, 0] },
    ]);
    expect(cache.stats()).toEqual({ hits: 2, misses: 4, entries: 4 });
    expect(batches.length).toBe(2);
    expect(batches[1].prompts.length).toBe(2);

    // Different generation settings are a different key; key order inside the settings is not.
    const other = { ...context, generation: { temperature: 0, maxNewTokens: 64 } };
    await runRollouts(other, [{ query: "Say hi", reference: "x", ids: [1] }]);
    expect(cache.stats().hits).toBe(3);
    await runRollouts({ ...context, generation: { maxNewTokens: 8 } }, [{ query: "Say hi", reference: "x", ids: [1] }]);
    expect(cache.stats().misses).toBe(5);
  });

  it("passes the query's input to the template and keys the cache by it", async () => {
    const { backend, batches } = recordingBackend((prompt) => prompt);
    const cache = new RolloutCache();
    const seen: (string | undefined)[] = [];
    const template = (demos: readonly unknown[], query: string, input?: string) => {
      seen.push(input);
      return `${demos.length}|${query}|${input ?? ""}`;
    };
    const results = await runRollouts({ backend, pool, cache, template, reward: "exactMatch" }, [
      { query: "Add", input: "1 2", reference: "0|Add|1 2", ids: [] },
      { query: "Add", input: "3 4", reference: "x", ids: [] },
      { query: "Add", reference: "x", ids: [] },
    ]);
    expect(seen).toEqual(["1 2", "3 4", undefined]);
    expect(results[0].reward).toBe(1);
    expect(batches[0].prompts).toEqual(["0|Add|1 2", "0|Add|3 4", "0|Add|"]);
    expect(cache.stats()).toEqual({ hits: 0, misses: 3, entries: 3 });
    expect(defaultTemplate([], "Add", "1 2")).toBe("### Instruction:\nAdd\n\n### Input:\n1 2\n\n### Response:\n");
  });

  it("accepts custom (async) rewards and rejects bad ones", async () => {
    const { backend } = recordingBackend(() => "four");
    const results = await runRollouts({ backend, pool, reward: async (prediction) => prediction.length }, [
      { query: "q", reference: "r", ids: [] },
    ]);
    expect(results[0].reward).toBe(4);
    await expect(
      runRollouts({ backend, pool, reward: () => Number.NaN }, [{ query: "q", reference: "r", ids: [] }]),
    ).rejects.toThrow(/reward returned NaN/);
    await expect(runRollouts({ backend, pool }, [{ query: "q", reference: "r", ids: [5] }])).rejects.toThrow(
      /no entry at index 5/,
    );
  });

  it("does not cache a failed generation", async () => {
    let fail = true;
    const backend: GenerationBackend = {
      name: "flaky",
      generate: async () => ({ text: "" }),
      generateBatch: async (prompts) => {
        if (fail) throw new Error("device lost");
        return prompts.map(() => ({ text: "ok" }));
      },
    };
    const cache = new RolloutCache();
    await expect(runRollouts({ backend, pool, cache }, [{ query: "q", reference: "ok", ids: [] }])).rejects.toThrow(
      "device lost",
    );
    fail = false;
    const [result] = await runRollouts({ backend, pool, cache }, [{ query: "q", reference: "ok", ids: [] }]);
    expect(result.reward).toBe(1);
  });
});
