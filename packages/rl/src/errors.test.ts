// RlError's class and code on real bad input: a reward or tokenizer name from a config that does not
// exist, a backend that answers short or cannot score, a run whose reward blows the gradient up, a
// teacher whose picks the network cannot replay.
import type { GenerationBackend } from "@pillow/core";
import { createEmbedder, MatchingNetwork, PromptPool } from "@pillow/matcher";
import { describe, expect, it } from "vitest";
import { RlError } from "./errors.js";
import { rewards } from "./rewards/index.js";
import { runRollouts } from "./rollout.js";
import { trainMatcher } from "./train.js";
import { warmStartMatcher } from "./warm-start.js";

const pool = new PromptPool([
  { id: "a", instruction: "Add the numbers", input: "1 1", output: "2" },
  { id: "b", instruction: "Greet the person", output: "hello" },
  { id: "c", instruction: "Name the colour", input: "sky", output: "blue" },
]);
const echo: GenerationBackend = {
  name: "echo",
  generate: async (prompt) => ({ text: prompt.slice(-5) }),
  generateBatch: async (prompts) => prompts.map((prompt) => ({ text: prompt.slice(-5) })),
};
const request = [{ query: "Add two and two", reference: "4", ids: [0] }];

async function thrown(action: () => unknown): Promise<unknown> {
  try {
    await action();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

describe("RlError", () => {
  it("unknown reward, tokenizer, algorithm: E_UNKNOWN_NAME with the field", async () => {
    const reward = await thrown(() => runRollouts({ backend: echo, pool, reward: "meteor" as "bleu" }, request));
    expect(reward).toBeInstanceOf(RlError);
    expect(reward).toMatchObject({ code: "E_UNKNOWN_NAME", field: "reward", name: "RlError" });
    expect(() => rewards.rougeL("a", "b", { tokenizer: "nltk" as "unicode" })).toThrow(
      expect.objectContaining({ code: "E_UNKNOWN_NAME", field: "tokenizer" }),
    );
    const embedder = createEmbedder({ kind: "tfidf", corpus: pool.texts() });
    await pool.embed(embedder);
    const matcher = new MatchingNetwork({ embedDim: pool.embeddings[0].length, hidden: 4, steps: 1, seed: 0 });
    const algorithm = await thrown(() =>
      trainMatcher({
        matcher,
        pool,
        backend: echo,
        data: [{ query: "q", reference: "r" }],
        embedder,
        algorithm: "dpo" as "ppo",
      }),
    );
    expect(algorithm).toMatchObject({ code: "E_UNKNOWN_NAME", field: "algorithm" });
  });

  it("a backend that answers short: E_BACKEND_OUTPUT; one that cannot score for loglik: E_BACKEND_CAPABILITY", async () => {
    const short: GenerationBackend = { ...echo, name: "short", generateBatch: async () => [] };
    const output = await thrown(() => runRollouts({ backend: short, pool }, request));
    expect(output).toBeInstanceOf(RlError);
    expect(output).toMatchObject({ code: "E_BACKEND_OUTPUT" });
    expect((output as Error).message).toMatch(/short returned 0 generations for 1 prompts/);
    expect(await thrown(() => runRollouts({ backend: echo, pool, reward: "loglik" }, request))).toMatchObject({
      code: "E_BACKEND_CAPABILITY",
    });
    const emptyScore: GenerationBackend = {
      ...echo,
      score: async (items) => items.map(() => ({ logProb: 0, count: 0 })),
    };
    expect(await thrown(() => runRollouts({ backend: emptyScore, pool, reward: "loglik" }, request))).toMatchObject({
      code: "E_EMPTY_REFERENCE",
    });
  });

  it("a reward of Infinity makes the policy gradient non-finite: E_NONFINITE_GRADIENT", async () => {
    const embedder = createEmbedder({ kind: "tfidf", corpus: pool.texts() });
    await pool.embed(embedder);
    const matcher = new MatchingNetwork({ embedDim: pool.embeddings[0].length, hidden: 4, steps: 1, seed: 0 });
    let calls = 0;
    const error = await thrown(() =>
      trainMatcher({
        matcher,
        pool,
        backend: echo,
        data: [{ query: "Add two and two", reference: "4" }],
        embedder,
        steps: 1,
        samplesPerQuery: 2,
        // One sample infinitely good, the other not: the leave-one-out advantages are ±Infinity.
        reward: () => (calls++ === 0 ? Number.POSITIVE_INFINITY : 0),
      }),
    );
    expect(error).toBeInstanceOf(RlError);
    expect(error).toMatchObject({ code: "E_NONFINITE_GRADIENT" });
  });

  it("a teacher the network cannot replay (an entry twice): E_TEACHER_REPLAY with the network's RangeError as cause", async () => {
    const embedder = createEmbedder({ kind: "tfidf", corpus: pool.texts() });
    await pool.embed(embedder);
    const matcher = new MatchingNetwork({ embedDim: pool.embeddings[0].length, hidden: 4, steps: 2, seed: 0 });
    const data = [{ query: "Add two and two", reference: "4" }];
    const error = await thrown(() =>
      warmStartMatcher({ matcher, pool, data, teacher: [{ ids: [1, 1], stopped: false }], embedder, epochs: 1 }),
    );
    expect(error).toBeInstanceOf(RlError);
    expect(error).toMatchObject({ code: "E_TEACHER_REPLAY" });
    expect((error as Error).cause).toBeInstanceOf(RangeError);
  });

  it("argument checks stay RangeError/TypeError", async () => {
    const matcher = new MatchingNetwork({ embedDim: 3, hidden: 4, steps: 1, seed: 0 });
    await expect(trainMatcher({ matcher, pool, backend: echo, data: [] })).rejects.toThrow(RangeError);
    await expect(runRollouts({ backend: {} as GenerationBackend, pool }, request)).rejects.toThrow(TypeError);
  });
});
