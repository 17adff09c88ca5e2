import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { GenerationBackend } from "@pillow/core";
import { describe, expect, it } from "vitest";
import { Bm25Index } from "./bm25.js";
import { createEmbedder } from "./create-embedder.js";
import { TfidfModel } from "./tfidf.js";
import { words } from "./words.js";

describe("words", () => {
  it("lower-cases, splits on anything that is not a letter or digit, and isolates CJK characters", () => {
    expect(words("Hello, WORLD! it's 42.")).toEqual(["hello", "world", "it", "s", "42"]);
    expect(words("Café naïve Ünïcode")).toEqual(["café", "naïve", "ünïcode"]);
    expect(words("東京タワーへ行く abc漢")).toEqual(["東", "京", "タ", "ワ", "ー", "へ", "行", "く", "abc", "漢"]);
    expect(words("ｆｕｌｌｗｉｄｔｈ")).toEqual(["fullwidth"]);
    expect(words("   ")).toEqual([]);
  });
});

describe("Bm25Index", () => {
  it("scores a hand-computed example (k1 = 1.2, b = 0.75)", () => {
    const index = new Bm25Index(["cat sat", "cat cat dog", "bird"]);
    const idf = Math.log(1 + (3 - 2 + 0.5) / (2 + 0.5));
    expect(index.inverseDocumentFrequency("cat")).toBeCloseTo(idf, 14);
    const scores = index.scores("cat");
    // average length 2; d0: tf 1, length 2 → idf·2.2/(1+1.2); d1: tf 2, length 3 → idf·4.4/(2+1.2·1.375)
    expect(scores[0]).toBeCloseTo((idf * 2.2) / 2.2, 14);
    expect(scores[1]).toBeCloseTo((idf * 4.4) / (2 + 1.2 * 1.375), 14);
    expect(scores[2]).toBe(0);
    expect(index.top("cat", 2)).toEqual([1, 0]);
    // Repeated query words count every time.
    expect(index.scores("cat cat")[0]).toBeCloseTo(2 * scores[0], 14);
    expect(Array.from(index.scores("unknown words"))).toEqual([0, 0, 0]);
    expect(() => new Bm25Index(["a"], { b: 2 })).toThrow(/0 <= b <= 1/);
  });
});

describe("tfidf embedder", () => {
  it("computes smoothed-idf, sublinear-tf, L2-normalised vectors by hand", async () => {
    const model = new TfidfModel(["a b", "a c"]);
    expect([...model.vocabulary.keys()]).toEqual(["a", "b", "c"]);
    const vector = model.transform("A a b zzz");
    const expected = [(1 + Math.log(2)) * 1, 1 * (Math.log(3 / 2) + 1), 0];
    const length = Math.hypot(...expected);
    expected.forEach((value, index) => {
      expect(vector[index]).toBeCloseTo(value / length, 6);
    });
    expect(Array.from(model.transform("nothing known"))).toEqual([0, 0, 0]);

    const embedder = createEmbedder({ kind: "tfidf", corpus: ["a b", "a c"], maxFeatures: 2 });
    expect(embedder.name).toBe("tfidf:2");
    const [first] = await embedder.embed(["a b"]);
    const [again] = await embedder.embed(["a b"]);
    expect(again).toBe(first); // served from the cache, the very same vector
    expect(() => createEmbedder({ kind: "tfidf", corpus: [] })).toThrow(/non-empty array/);
    const restored = TfidfModel.fromState(model.toState());
    expect(Array.from(restored.transform("A a b zzz"))).toEqual(Array.from(vector));
    expect(() => TfidfModel.fromState({ vocabulary: ["a"], inverseDocumentFrequency: [], sublinearTf: true })).toThrow(
      /equal length/,
    );
  });
});

describe("llm embedder", () => {
  it("calls backend.embed in batches and caches", async () => {
    const calls: string[][] = [];
    const backend: GenerationBackend = {
      name: "fake",
      generate: async () => ({ text: "" }),
      generateBatch: async () => [],
      embed: async (texts) => {
        calls.push(texts.slice());
        return texts.map((text) => Float32Array.of(text.length, 0.5));
      },
    };
    const embedder = createEmbedder({ kind: "llm", backend, batchSize: 2 });
    const vectors = await embedder.embed(["a", "bb", "ccc", "a"]);
    expect(vectors.map((vector) => vector[0])).toEqual([1, 2, 3, 1]);
    expect(calls).toEqual([["a", "bb"], ["ccc"]]);
    await embedder.embed(["bb", "dddd"]);
    expect(calls.at(-1)).toEqual(["dddd"]);
    const noEmbed = { ...backend, embed: undefined };
    expect(() => createEmbedder({ kind: "llm", backend: noEmbed })).toThrow(/has no embed\(\) method/);
    expect(() => createEmbedder({ kind: "bert" } as never)).toThrow(/unknown kind "bert"/);
  });
});

describe("openai embedder", () => {
  it("posts to /v1/embeddings, orders by index, batches, caches, and reports HTTP errors", async () => {
    const requests: { url?: string; auth?: string; body: { model: string; input: string[] } }[] = [];
    const server = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk) => {
        body += chunk;
      });
      request.on("end", () => {
        const parsed = JSON.parse(body);
        requests.push({ url: request.url, auth: request.headers.authorization, body: parsed });
        if (parsed.input.includes("fail")) {
          response.writeHead(429, { "content-type": "application/json" });
          response.end('{"error":"rate limited"}');
          return;
        }
        // Answer in reverse order: the client must sort by "index".
        const data = parsed.input
          .map((text: string, index: number) => ({ index, embedding: [text.length, index] }))
          .reverse();
        response.writeHead(200, { "content-type": "application/json" });
        response.end(JSON.stringify({ data }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const embedder = createEmbedder({
        kind: "openai",
        model: "test-model",
        baseUrl: `http://127.0.0.1:${port}`,
        apiKey: "secret",
        batchSize: 2,
      });
      const vectors = await embedder.embed(["x", "yy", "zzz"]);
      expect(vectors.map((vector) => Array.from(vector))).toEqual([
        [1, 0],
        [2, 1],
        [3, 0],
      ]);
      expect(requests.map((request) => request.body.input)).toEqual([["x", "yy"], ["zzz"]]);
      expect(requests[0]).toMatchObject({
        url: "/v1/embeddings",
        auth: "Bearer secret",
        body: { model: "test-model" },
      });
      await embedder.embed(["yy"]);
      expect(requests.length).toBe(2);
      await expect(embedder.embed(["fail"])).rejects.toThrow(/answered HTTP 429: \{"error":"rate limited"\}/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
