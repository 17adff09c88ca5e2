import type { GenerateOptions, Generation, GenerationBackend } from "@pillow/core";
import { describe, expect, it } from "vitest";
import { createHashingEmbedder } from "../embedding/embedder.js";
import { createKeyphraseTagger, keyphraseTags } from "./keyphrase-tagger.js";
import { createLlmTagger, firstJsonArray, parseTagReply } from "./llm-tagger.js";
import { dbscanCosine, mergeSimilarTags } from "./merge-tags.js";
import { normaliseTag } from "./normalise-tag.js";

describe("normaliseTag", () => {
  it("lower-cases, turns non-letters into spaces and lemmatises", () => {
    expect(normaliseTag("Sentiment-Analysis")).toBe("sentiment analysis");
    expect(normaliseTag("  Movie_Reviews!! ")).toBe("movie review");
    expect(normaliseTag("Translating Numbers2Words")).toBe("translate number word");
    expect(normaliseTag("123 !!")).toBe("");
  });
});

describe("keyphrase tagger", () => {
  it("extracts lemmatised verb–object and noun phrases, deterministically", async () => {
    expect(keyphraseTags("Classify the sentiment of the following movie reviews as positive or negative.")).toEqual([
      "classify sentiment",
      "sentiment",
      "movie review",
    ]);
    expect(keyphraseTags("Translate the given numbers into English words!")).toEqual([
      "translate number",
      "number",
      "english word",
    ]);
    expect(keyphraseTags("Write the plural form of each noun.")).toEqual(["write form", "plural form", "noun"]);
    const tagger = createKeyphraseTagger();
    const first = await tagger.tag(["What is the capital city of this country?", "Summarise the text."]);
    expect(first).toEqual(await tagger.tag(["What is the capital city of this country?", "Summarise the text."]));
    expect(first[0]).toContain("capital city");
    expect(first[1][0]).toMatch(/^summari[sz]e text$/);
  });
});

describe("llm tagger parsing", () => {
  it("finds the first JSON array, skipping brackets in prose and strings", () => {
    expect(firstJsonArray('Sure [not json] here: [{"tag": "a ] b", "explanation": "x"}] done')).toBe(
      '[{"tag": "a ] b", "explanation": "x"}]',
    );
    expect(firstJsonArray("no array")).toBeUndefined();
  });
  it("parses objects, strings, and truncated replies; undefined when nothing usable", () => {
    expect(
      parseTagReply('```json\n[{"tag": "Sentiment Analysis", "explanation": "..."}, {"tag": "Movie Reviews"}]\n```'),
    ).toEqual(["sentiment analysis", "movie review"]);
    expect(parseTagReply('["Unit Conversion", "unit conversion"]')).toEqual(["unit conversion"]);
    expect(parseTagReply('[{"tag": "Code Generation", "explanation": "writes code"}, {"tag": "Pyth')).toEqual([
      "code generation",
    ]);
    expect(parseTagReply("I cannot help with that.")).toBeUndefined();
    expect(parseTagReply("[]")).toBeUndefined();
  });
});

function scriptedBackend(replies: (prompt: string, attempt: number) => string): GenerationBackend & { calls: number } {
  const seen = new Map<string, number>();
  const backend = {
    name: "scripted",
    calls: 0,
    async generate(prompt: string): Promise<Generation> {
      const attempt = seen.get(prompt) ?? 0;
      seen.set(prompt, attempt + 1);
      backend.calls++;
      return { text: replies(prompt, attempt) };
    },
    async generateBatch(prompts: string[], _options?: GenerateOptions): Promise<Generation[]> {
      return Promise.all(prompts.map((prompt) => backend.generate(prompt)));
    },
  };
  return backend;
}

describe("llm tagger", () => {
  it("asks with the tagging prompt and retries malformed replies", async () => {
    const backend = scriptedBackend((prompt, attempt) => {
      expect(prompt).toContain("intention tagging system");
      if (prompt.includes("Add two numbers"))
        return attempt === 0 ? "oops, no json" : 'Tags: [{"tag": "Arithmetic", "explanation": "sum"}]';
      return '[{"tag": "Translation", "explanation": "t"}]';
    });
    const tagger = createLlmTagger(backend, { attempts: 3 });
    expect(await tagger.tag(["Add two numbers.", "Translate to French."])).toEqual([["arithmetic"], ["translation"]]);
    expect(backend.calls).toBe(3);
  });
  it("fails clearly after N attempts", async () => {
    const backend = scriptedBackend(() => "never json");
    await expect(createLlmTagger(backend, { attempts: 2 }).tag(["Do it."])).rejects.toThrow(
      /no JSON tag list for instruction 0 \("Do it\."\) after 2 attempts; last reply: "never json"/,
    );
    expect(backend.calls).toBe(2);
  });
});

function unitAt(degrees: number): Float32Array {
  const radians = (degrees * Math.PI) / 180;
  return Float32Array.from([Math.cos(radians), Math.sin(radians)]);
}

describe("DBSCAN (cosine)", () => {
  it("finds the hand-built clusters, noise and border points", () => {
    // 1 − cos(θ) ≤ 0.1 ⇔ θ ≤ 25.84°. Cluster A: 0..20° step 5 (5 points); cluster B: 180..196° step 4;
    // 90° is isolated noise; 40° is within 25.8° of 20° only: a border point of A.
    const angles = [0, 5, 10, 15, 20, 90, 180, 184, 188, 192, 196, 40];
    const labels = Array.from(dbscanCosine(angles.map(unitAt), { epsilon: 0.1, minSamples: 5 }));
    expect(labels).toEqual([0, 0, 0, 0, 0, -1, 1, 1, 1, 1, 1, 0]);
    // With minSamples 6 only the points whose ε-ball holds 6 points (themselves included) are cores.
    expect(Array.from(dbscanCosine(angles.map(unitAt), { epsilon: 0.1, minSamples: 7 }))).toEqual(angles.map(() => -1));
  });
  it("rejects zero vectors and bad options", () => {
    expect(() => dbscanCosine([Float32Array.from([0, 0])])).toThrow(/vector 0 is the zero vector/);
    expect(() => dbscanCosine([], { minSamples: 0 })).toThrow(/minSamples/);
  });
});

describe("mergeSimilarTags", () => {
  it("maps every cluster, including the last one, to its most frequent tag", async () => {
    // Two clusters by construction: the embedder puts tags starting with "a" near 0° and "b" near 180°.
    const angleOf = (tag: string) => (tag.startsWith("a") ? 0 : 180) + Number(tag.slice(1)) * 3;
    const embedder = {
      name: "angles",
      embed: async (tags: readonly string[]) => tags.map((tag) => unitAt(angleOf(tag))),
    };
    const instructions = [
      ["a1", "b1"],
      ["a1", "b2"],
      ["a2", "b2"],
      ["a3", "b3"],
      ["a4", "b4"],
      ["a1", "b5"],
      ["a5", "b2"],
    ];
    const { tags, representative } = await mergeSimilarTags(instructions, { embedder, epsilon: 0.1, minSamples: 5 });
    expect(representative.get("a4")).toBe("a1"); // a1 appears 3 times
    expect(representative.get("b5")).toBe("b2"); // b2 appears 3 times: the last cluster is merged too
    expect(tags[0]).toEqual(["a1", "b2"]);
    expect(tags[6]).toEqual(["a1", "b2"]);
    // With minSamples above the cluster sizes nothing merges.
    const unmerged = await mergeSimilarTags(instructions, { embedder, epsilon: 0.1, minSamples: 6 });
    expect(unmerged.tags).toEqual(instructions);
  });
  it("leaves distinct tags alone with the hashing embedder", async () => {
    const { tags } = await mergeSimilarTags([["sentiment analysis"], ["code generation"]], {
      embedder: createHashingEmbedder(),
    });
    expect(tags).toEqual([["sentiment analysis"], ["code generation"]]);
  });
});
