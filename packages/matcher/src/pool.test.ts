import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CachedEmbedder } from "./embedder.js";
import { kMeans } from "./kmeans.js";
import { approximateTokenCount, entryText, PromptPool } from "./pool.js";

describe("PromptPool.fromJsonl", () => {
  it("reads entries, assigns ids to entries without one, and skips blank lines", async () => {
    const directory = await mkdtemp(join(tmpdir(), "pillow-pool-"));
    try {
      const path = join(directory, "pool.jsonl");
      await writeFile(
        path,
        [
          JSON.stringify({ id: "a", instruction: "Add", input: "2 3", output: "5" }),
          "",
          JSON.stringify({ instruction: "Say hi", output: "hi" }),
          JSON.stringify({ id: 7, instruction: "Seven", input: "", output: "7", task: "math" }),
        ].join("\n"),
      );
      const pool = await PromptPool.fromJsonl(path);
      expect(pool.size).toBe(3);
      expect(pool.entries.map((entry) => entry.id)).toEqual(["a", "line-3", "7"]);
      expect(pool.get(0)).toEqual({ id: "a", instruction: "Add", input: "2 3", output: "5" });
      expect(pool.get(2)).toEqual({ id: "7", instruction: "Seven", output: "7", task: "math" });
      expect(pool.indexOf("line-3")).toBe(1);
      expect(entryText(pool.get(0))).toBe("Add\n2 3");
      expect(Array.from(pool.costs((entry) => entry.output.length))).toEqual([1, 2, 1]);
      expect(() => pool.costs(() => -1)).toThrow(/entry 0 got cost -1/);
      expect(Array.from(pool.tokenCosts())).toEqual([
        approximateTokenCount("Add\n2 3\n5"),
        approximateTokenCount("Say hi\nhi"),
        2,
      ]);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it("names the file and line of every malformed entry", async () => {
    const bad: [string, RegExp][] = [
      ["{not json", /^f.jsonl:2: not valid JSON/],
      ["[1,2]", /^f.jsonl:2: expected a JSON object/],
      [JSON.stringify({ output: "x" }), /^f.jsonl:2: "instruction" must be a non-empty string, got nothing/],
      [JSON.stringify({ instruction: "  ", output: "x" }), /^f.jsonl:2: "instruction" must be a non-empty string/],
      [JSON.stringify({ instruction: "q" }), /^f.jsonl:2: "output" must be a string, got nothing/],
      [
        JSON.stringify({ instruction: "q", output: "o", input: 3 }),
        /^f.jsonl:2: "input" must be a string when present, got number/,
      ],
      [JSON.stringify({ id: true, instruction: "q", output: "o" }), /^f.jsonl:2: "id" must be a string or a number/],
      [
        JSON.stringify({ id: "x", instruction: "q", output: "o" }),
        /^f.jsonl:2: duplicate id "x" \(first seen on line 1\)/,
      ],
    ];
    const first = JSON.stringify({ id: "x", instruction: "ok", output: "ok" });
    for (const [line, message] of bad) {
      expect(() => PromptPool.parseJsonl(`${first}\n${line}\n`, "f.jsonl")).toThrow(message);
    }
    expect(() => PromptPool.parseJsonl("\n\n", "empty.jsonl")).toThrow("empty.jsonl: the prompt pool is empty");
    await expect(PromptPool.fromJsonl("/nonexistent/pool.jsonl")).rejects.toThrow(
      /^\/nonexistent\/pool.jsonl: cannot read/,
    );
  });

  it("needs embeddings before they are read, and checks their shape", async () => {
    const pool = new PromptPool([
      { id: "a", instruction: "one", output: "1" },
      { id: "b", instruction: "two", output: "2" },
    ]);
    expect(() => pool.embeddings).toThrow(/call `await pool.embed\(embedder\)` first/);
    expect(() => pool.setEmbeddings([new Float32Array(2)])).toThrow(/1 vectors for 2 entries/);
    expect(() => pool.setEmbeddings([new Float32Array(2), new Float32Array(3)])).toThrow(/vector 1 has length 3/);
    const embedder = new CachedEmbedder("length", async (texts) =>
      texts.map((text) => Float32Array.of(text.length, 1)),
    );
    await pool.embed(embedder);
    expect(pool.embeddings.map((vector) => Array.from(vector))).toEqual([
      [3, 1],
      [3, 1],
    ]);
    expect(
      () =>
        new PromptPool([
          { id: "a", instruction: "x", output: "y" },
          { id: "a", instruction: "z", output: "w" },
        ]),
    ).toThrow(/entry 1: duplicate id "a"/);
  });
});

describe("PromptPool.fromDataset", () => {
  const instances = Array.from({ length: 12 }, (_, index) => ({
    instruction: `task ${index % 3} question ${index}`,
    output: `answer ${index}`,
    task: `t${index % 3}`,
  }));

  it("keeps perTask entries of every task, reproducibly from the seed", async () => {
    const pool = await PromptPool.fromDataset(instances, { perTask: 2, seed: 1 });
    expect(pool.size).toBe(6);
    const perTask = new Map<string, number>();
    for (const entry of pool.entries) perTask.set(entry.task!, (perTask.get(entry.task!) ?? 0) + 1);
    expect([...perTask.values()]).toEqual([2, 2, 2]);
    const again = await PromptPool.fromDataset(instances, { perTask: 2, seed: 1 });
    expect(again.entries).toEqual(pool.entries);
    expect((await PromptPool.fromDataset(instances)).size).toBe(12);
  });

  it("with kmeans keeps one representative per cluster", async () => {
    // Two obvious clusters along the first axis: the representatives come one from each.
    const data = [0, 1, 2, 10, 11, 12].map((value) => ({ instruction: `x${value}`, output: String(value) }));
    const embedder = new CachedEmbedder("axis", async (texts) =>
      texts.map((text) => Float32Array.of(Number(text.slice(1)), 0)),
    );
    const pool = await PromptPool.fromDataset(data, { kmeans: { embedder, k: 2, seed: 3 } });
    expect(pool.entries.map((entry) => entry.output).sort()).toEqual(["1", "11"]);
  });

  it("rejects bad options and instances", async () => {
    await expect(PromptPool.fromDataset([])).rejects.toThrow(/non-empty array/);
    await expect(PromptPool.fromDataset(instances, { perTask: 0 })).rejects.toThrow(
      /perTask must be a positive integer/,
    );
    const embedder = new CachedEmbedder("none", async (texts) => texts.map(() => Float32Array.of(1)));
    await expect(PromptPool.fromDataset(instances, { kmeans: { embedder } })).rejects.toThrow(
      /kmeans needs a positive integer k/,
    );
    await expect(PromptPool.fromDataset([{ instruction: "q" } as never])).rejects.toThrow(
      /instances\[0\]: "output" must be a string/,
    );
  });
});

describe("kMeans", () => {
  it("separates well-separated clusters and returns their medoids", () => {
    const points = [
      [0, 0],
      [0, 1],
      [1, 0],
      [10, 10],
      [10, 11],
      [11, 10],
      [11, 11],
    ];
    const { assignments, centroids, medoids } = kMeans(points, 2, { seed: 5 });
    expect(assignments[0]).toBe(assignments[1]);
    expect(assignments[0]).toBe(assignments[2]);
    expect(assignments[3]).toBe(assignments[6]);
    expect(assignments[0]).not.toBe(assignments[3]);
    const small = centroids[assignments[0]];
    expect(small[0]).toBeCloseTo(1 / 3, 12);
    expect(small[1]).toBeCloseTo(1 / 3, 12);
    const large = centroids[assignments[3]];
    expect(large[0]).toBeCloseTo(10.5, 12);
    expect(medoids.length).toBe(2);
    expect(() => kMeans(points, 0)).toThrow(/k must be a positive integer/);
  });
});
