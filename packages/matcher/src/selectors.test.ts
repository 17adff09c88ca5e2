import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadMatcherBundle, saveMatcherBundle } from "./bundle.js";
import { createEmbedder } from "./create-embedder.js";
import { CachedEmbedder } from "./embedder.js";
import { MatchingNetwork } from "./matching-network.js";
import { PromptPool } from "./pool.js";
import {
  bm25Selector,
  demoSelector,
  knnSelector,
  matcherSelector,
  noneSelector,
  prefixSelector,
  randomSelector,
} from "./selectors.js";

const pool = new PromptPool([
  { id: "sum", instruction: "Add the two numbers", input: "2 3", output: "5" },
  { id: "capital", instruction: "Name the capital of the country", input: "France", output: "Paris" },
  { id: "translate", instruction: "Translate the sentence to French", input: "Good morning", output: "Bonjour" },
  { id: "sum2", instruction: "Add these numbers together", input: "10 4", output: "14" },
]);
// Embeds by counting a few topic words, so cosine neighbours are predictable.
const embedder = new CachedEmbedder("topics", async (texts) =>
  texts.map((text) => {
    const lower = text.toLowerCase();
    return Float32Array.of(
      /add|sum|number/.test(lower) ? 1 : 0,
      /capital|country/.test(lower) ? 1 : 0,
      /french|translate/.test(lower) ? 1 : 0,
      0.1,
    );
  }),
);

describe("selectors", () => {
  it("none chooses nothing; random is reproducible per query and distinct", async () => {
    expect(await noneSelector().select({ text: "anything" })).toEqual([]);
    const random = randomSelector({ pool, k: 3, seed: 1 });
    const first = await random.select({ text: "query one" });
    expect(new Set(first).size).toBe(3);
    expect(await random.select({ text: "query one" })).toEqual(first);
    const draws = new Set<string>();
    for (let i = 0; i < 20; i++) draws.add((await random.select({ text: `query ${i}` })).join());
    expect(draws.size).toBeGreaterThan(3);
    expect(() => randomSelector({ pool, k: -1 })).toThrow(/k must be a non-negative integer/);
  });

  it("bm25 ranks lexical matches first", async () => {
    const bm25 = bm25Selector({ pool, k: 2 });
    expect(bm25.name).toBe("bm25");
    const chosen = await bm25.select({ text: "Add the numbers 7 and 8" });
    expect(chosen.sort()).toEqual([0, 3]);
    expect(await bm25Selector({ pool, k: 1 }).select({ text: "capital of Spain" })).toEqual([1]);
  });

  it("knn ranks by cosine and embeds the query when it has no embedding", async () => {
    await pool.embed(embedder);
    const knn = knnSelector({ pool, k: 1, embedder });
    expect(await knn.select({ text: "Translate to French please" })).toEqual([2]);
    expect(await knn.select({ text: "ignored", embedding: Float32Array.of(0, 1, 0, 0) })).toEqual([1]);
    await expect(knnSelector({ pool, k: 1 }).select({ text: "no embedding" })).rejects.toThrow(
      /no embedding and no embedder/,
    );
  });

  it("respects the context budget the same way for every selector", async () => {
    await pool.embed(embedder);
    const budget = { limit: 10, costs: [6, 100, 6, 3] };
    expect(await bm25Selector({ pool, k: 3, budget }).select({ text: "Add numbers" })).toEqual([0, 3]);
    for (let i = 0; i < 10; i++) {
      const chosen = await randomSelector({ pool, k: 3, budget, seed: i }).select({ text: "q" });
      expect(chosen.reduce((sum, index) => sum + budget.costs[index], 0)).toBeLessThanOrEqual(10);
    }
  });

  it("matcher selector wraps the network (greedy) and equals a direct select", async () => {
    await pool.embed(embedder);
    const matcher = new MatchingNetwork({ embedDim: 4, hidden: 8, steps: 2, seed: 2 });
    const selector = matcherSelector({ matcher, pool, embedder });
    const [queryEmbedding] = await embedder.embed(["Add 2 and 2"]);
    expect(await selector.select({ text: "Add 2 and 2" })).toEqual(matcher.select(queryEmbedding, pool).ids);
  });

  it("demoSelector returns pool entries, cut to the requested count", async () => {
    const demos = demoSelector(bm25Selector({ pool, k: 2 }), pool);
    expect(demos.name).toBe("bm25");
    expect((await demos.select("Add the numbers")).map((entry) => entry.id).sort()).toEqual(["sum", "sum2"]);
    expect((await demos.select("capital of the country", 1)).map((entry) => entry.id)).toEqual(["capital"]);
    await expect(demos.select("x", -1)).rejects.toThrow(/count must be a non-negative integer/);
  });
});

describe("matcher bundle", () => {
  it("saves network, pool and TF-IDF embedder, and reloads to identical selections", async () => {
    const directory = await mkdtemp(join(tmpdir(), "pillow-bundle-"));
    try {
      const embedder = createEmbedder({ kind: "tfidf", corpus: pool.texts() });
      const bundlePool = new PromptPool(pool.entries);
      await bundlePool.embed(embedder);
      const matcher = new MatchingNetwork({
        embedDim: bundlePool.embeddings[0].length,
        hidden: 8,
        steps: 2,
        seed: 7,
        features: { cosine: 5, sameInstruction: 2 },
      });
      await saveMatcherBundle(
        directory,
        { matcher, pool: bundlePool, embedder },
        { adapter: "cl-inscl", template: "suite" },
      );
      const loaded = await loadMatcherBundle(directory);
      expect(loaded.manifest).toEqual({
        format: "pillow-matcher-bundle",
        version: 2,
        k: 2,
        adapter: "cl-inscl",
        template: "suite",
      });
      const originalSelector = matcherSelector({ matcher, pool: bundlePool, embedder });
      const reloaded = matcherSelector({ matcher: loaded.matcher, pool: loaded.pool, embedder: loaded.embedder });
      expect(loaded.pool.entries).toEqual(bundlePool.entries);
      expect(loaded.embedder.name).toBe(embedder.name);
      for (const text of ["Add 4 and 5", "capital of Peru", "Translate hello to French"]) {
        const [original] = await embedder.embed([text]);
        const [again] = await loaded.embedder.embed([text]);
        expect(Array.from(again)).toEqual(Array.from(original));
        const query = { text, instruction: text };
        expect(await reloaded.select(query)).toEqual(await originalSelector.select(query));
      }
      expect(() => matcherSelector({ matcher, pool: { embeddings: bundlePool.embeddings }, embedder })).toThrow(
        /scores with features \[cosine,sameInstruction\]; pass a PromptPool/,
      );
      await expect(
        saveMatcherBundle(directory, { matcher, pool: bundlePool, embedder: { name: "x", embed: embedder.embed } }),
      ).rejects.toThrow(/has no spec/);
      await (await import("node:fs/promises")).writeFile(
        join(directory, "embedder.json"),
        '{"kind":"llm","backend":"native:tiny"}',
      );
      await expect(loadMatcherBundle(directory)).rejects.toThrow(/embeds with the LLM "native:tiny"; pass its backend/);
      // Old or foreign folders: no manifest, another format, an older version.
      const manifestPath = join(directory, "pillow-matcher.json");
      const { writeFile: write, rm: remove } = await import("node:fs/promises");
      await write(manifestPath, JSON.stringify({ format: "pillow-matcher-bundle", version: 1, k: 2 }));
      await expect(loadMatcherBundle(directory)).rejects.toThrow(
        /bundle version 1, this pillow reads version 2; train the matcher again/,
      );
      await write(manifestPath, JSON.stringify({ format: "something-else" }));
      await expect(loadMatcherBundle(directory)).rejects.toThrow(
        /"format" is "something-else", not "pillow-matcher-bundle"/,
      );
      await remove(manifestPath);
      await expect(loadMatcherBundle(directory)).rejects.toThrow(/not a matcher bundle \(no pillow-matcher.json\)/);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});

describe("prefixSelector", () => {
  it("keeps the first count choices of the wrapped selector, in order, and names itself NAME@count", async () => {
    // Hand-checked: BM25 ranks "sum" (0) and "sum2" (3) above the rest for this query; @1 keeps the top one only.
    const full = await bm25Selector({ pool, k: 3 }).select({ text: "Add the numbers 7 and 8" });
    const one = prefixSelector(bm25Selector({ pool, k: 3 }), 1);
    expect(one.name).toBe("bm25@1");
    expect(await one.select({ text: "Add the numbers 7 and 8" })).toEqual(full.slice(0, 1));
    expect(await prefixSelector(bm25Selector({ pool, k: 3 }), 2).select({ text: "Add the numbers 7 and 8" })).toEqual(
      full.slice(0, 2),
    );
    expect(await prefixSelector(bm25Selector({ pool, k: 2 }), 5).select({ text: "capital of Spain" })).toHaveLength(2);
    expect(await prefixSelector(noneSelector(), 1).select({ text: "x" })).toEqual([]);
    expect(() => prefixSelector(noneSelector(), -1)).toThrow(/prefixSelector: k must be a non-negative integer/);
  });
});
