import {
  bm25Selector,
  createEmbedder,
  entryText,
  MatchingNetwork,
  matcherSelector,
  noneSelector,
  PromptPool,
  prefixSelector,
} from "@pillow/matcher";
import { describe, expect, it } from "vitest";
import type { TrainingExample } from "./train.js";
import { bestPerQueryTeacher, selectorTeacher, warmStartMatcher } from "./warm-start.js";

// A synthetic pool: 6 topics × 4 entries, each entry with its topic's words and its own filler word.
const topics = ["river boat", "mountain snow", "desert sand", "forest tree", "ocean wave", "city street"];
const pool = new PromptPool(
  topics.flatMap((topic, t) =>
    Array.from({ length: 4 }, (_, j) => ({
      id: `${t}-${j}`,
      instruction: `Describe the ${topic.split(" ")[0]}`,
      input: `${topic} item${t * 4 + j}`,
      output: `${topic} ${j}`,
    })),
  ),
);
const queries = (count: number, offset: number): TrainingExample[] =>
  Array.from({ length: count }, (_, i) => {
    const t = i % topics.length;
    const [first, second] = topics[t].split(" ");
    // The input names one or two pool items, so BM25's order among a topic's entries differs per query.
    return {
      query: `Describe the ${first}`,
      input: `${second} item${t * 4 + ((i + offset) % 4)} item${t * 4 + ((i + offset + 1) % 4)}`,
      reference: first,
    };
  });

async function setUp() {
  const embedder = createEmbedder({ kind: "tfidf", corpus: pool.texts() });
  await pool.embed(embedder);
  return embedder;
}

describe("warmStartMatcher", () => {
  it("reproduces BM25's ranking (top-2, in order) on training and on unseen queries", async () => {
    const embedder = await setUp();
    const train = queries(48, 0);
    const test = queries(24, 2).map((query, i) => ({ ...query, input: `${query.input} extra${i}` }));
    const matcher = new MatchingNetwork({
      embedDim: pool.embeddings[0].length,
      hidden: 8,
      steps: 2,
      seed: 1,
      features: { cosine: 0, bm25: 0, sameInstruction: 0 },
    });
    const bm25 = bm25Selector({ pool, k: 2 });
    const teacher = await selectorTeacher(bm25, train);
    const before = matcherSelector({ matcher, pool, embedder });
    const agreementOf = async (data: TrainingExample[], selector: typeof before) => {
      let same = 0;
      for (const example of data) {
        const query = {
          text: entryText({ instruction: example.query, input: example.input }),
          instruction: example.query,
        };
        if (JSON.stringify(await selector.select(query)) === JSON.stringify(await bm25.select(query))) same++;
      }
      return same / data.length;
    };
    expect(await agreementOf(test, before)).toBeLessThan(0.5);
    const result = await warmStartMatcher({
      matcher,
      pool,
      data: train,
      teacher,
      embedder,
      epochs: 60,
      lr: 0.05,
      seed: 1,
    });
    expect(result.epochs.length).toBe(60);
    expect(result.epochs.at(-1)!.loss).toBeLessThan(result.epochs[0].loss / 5);
    expect(result.agreement).toBe(1);
    expect(await agreementOf(test, matcherSelector({ matcher, pool, embedder }))).toBeGreaterThanOrEqual(0.95);
    // The BM25 feature's weight carries the ranking.
    expect(matcher.tensor("features.weight")[1]).toBeGreaterThan(1);
  });

  it("learns STOP where the teacher chose no demonstrations", async () => {
    const embedder = await setUp();
    const train = queries(48, 0);
    // Teacher: nothing for river and desert queries, BM25's pick otherwise.
    const quiet = (example: TrainingExample) => /river|desert/.test(example.query);
    const bm25 = await selectorTeacher(bm25Selector({ pool, k: 2 }), train);
    const none = await selectorTeacher(noneSelector(), train);
    const teacher = train.map((example, i) => (quiet(example) ? none[i] : bm25[i]));
    const matcher = new MatchingNetwork({
      embedDim: pool.embeddings[0].length,
      hidden: 8,
      steps: 2,
      seed: 2,
      allowStop: true,
      features: { bm25: 0 },
    });
    const result = await warmStartMatcher({ matcher, pool, data: train, teacher, embedder, epochs: 60, lr: 0.05 });
    expect(result.agreement).toBe(1);
    const selector = matcherSelector({ matcher, pool, embedder });
    for (const example of queries(12, 3)) {
      const chosen = await selector.select({
        text: entryText({ instruction: example.query, input: example.input }),
        instruction: example.query,
      });
      expect(chosen.length).toBe(quiet(example) ? 0 : 2);
    }
  });

  it("rejects mismatched teachers and trajectories the network cannot replay", async () => {
    const embedder = await setUp();
    const train = queries(4, 0);
    const matcher = new MatchingNetwork({ embedDim: pool.embeddings[0].length, hidden: 4, steps: 2 });
    await expect(warmStartMatcher({ matcher, pool, data: train, teacher: [], embedder })).rejects.toThrow(
      /0 teacher selections for 4 examples/,
    );
    // A shorter choice without STOP is imitated as a prefix (here: one pick of two).
    const prefix = await warmStartMatcher({
      matcher,
      pool,
      data: train,
      teacher: train.map(() => ({ ids: [5], stopped: false })),
      embedder,
      epochs: 1,
    });
    expect(prefix.epochs.length).toBe(1);
    const teacher = train.map(() => ({ ids: [3, 3], stopped: false }));
    await expect(warmStartMatcher({ matcher, pool, data: train, teacher, embedder, epochs: 1 })).rejects.toThrow(
      /teacher.s selection \[3,3\] for example \d cannot be replayed/,
    );
  });

  it("a prefix teacher (bm25@1 then STOP) wins where one demonstration is best, and the network learns to stop after one", async () => {
    const embedder = await setUp();
    const train = queries(24, 0).map((example) => ({ ...example, reference: "1" }));
    // The stand-in LLM answers with the number of demonstrations in its prompt (defaultTemplate: one
    // "### Instruction:" per demonstration plus the query's), so ROUGE-L is 1 exactly for one demonstration.
    const backend = {
      name: "count-demos",
      generate: async () => ({ text: "" }),
      generateBatch: async (prompts: string[]) =>
        prompts.map((prompt) => ({ text: String(prompt.split("### Instruction:").length - 2) })),
    };
    const bm25 = bm25Selector({ pool, k: 2 });
    const { selections, chosen } = await bestPerQueryTeacher(
      { backend, pool, reward: "rougeL" },
      [noneSelector(), bm25, prefixSelector(bm25, 1)],
      train,
    );
    expect(chosen).toEqual({ none: 0, bm25: 0, "bm25@1": 24 });
    const full = await selectorTeacher(bm25, train);
    expect(selections).toEqual(full.map((selection) => ({ ids: selection.ids.slice(0, 1), stopped: true })));
    const matcher = new MatchingNetwork({
      embedDim: pool.embeddings[0].length,
      hidden: 8,
      steps: 2,
      seed: 3,
      allowStop: true,
      features: { bm25: 0 },
    });
    const result = await warmStartMatcher({
      matcher,
      pool,
      data: train,
      teacher: selections,
      embedder,
      epochs: 60,
      lr: 0.05,
    });
    expect(result.agreement).toBe(1);
    for (const example of queries(6, 3)) {
      const query = {
        text: entryText({ instruction: example.query, input: example.input }),
        instruction: example.query,
      };
      // Unseen queries: one demonstration, then STOP (which one is the first test's business).
      expect(await matcherSelector({ matcher, pool, embedder }).select(query)).toHaveLength(1);
    }
  });
});
