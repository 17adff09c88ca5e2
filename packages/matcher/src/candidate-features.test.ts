import { describe, expect, it } from "vitest";
import { Bm25Index } from "./bm25.js";
import { CandidateFeatureSpace, normalizedInstruction } from "./candidate-features.js";
import { entryText } from "./pool.js";

const entries = [
  { id: "a", instruction: "Add the numbers", input: "2 3", output: "5" },
  { id: "b", instruction: "add  the NUMBERS", input: "7 1", output: "8" },
  { id: "c", instruction: "Name the capital", input: "Peru", output: "Lima" },
  { id: "d", instruction: "Reverse the word", input: "cat", output: "tac" },
];
const embeddings = [Float32Array.of(1, 0), Float32Array.of(1, 1), Float32Array.of(0, 2), Float32Array.of(0, 0)];

describe("CandidateFeatureSpace", () => {
  it("gives cosine, max-normalised BM25 and same-instruction columns per entry", () => {
    const space = new CandidateFeatureSpace({ entries, embeddings }, ["cosine", "bm25", "sameInstruction"]);
    const query = { text: "Add the numbers\n4 4", instruction: "Add the numbers", embedding: Float32Array.of(3, 4) };
    const features = space.compute(query);
    expect(features.length).toBe(4 * 3);
    // cosine by hand: (3,4)·(1,0)/5 = 0.6; (3,4)·(1,1)/(5√2) = 7/(5√2); (3,4)·(0,2)/10 = 0.8; zero vector → 0.
    expect([features[0], features[3], features[6], features[9]].map((v) => +v.toFixed(12))).toEqual([
      0.6,
      +(7 / (5 * Math.SQRT2)).toFixed(12),
      0.8,
      0,
    ]);
    const bm25 = new Bm25Index(entries.map(entryText)).scores(query.text);
    const best = Math.max(...bm25);
    expect(best).toBeGreaterThan(0);
    for (let p = 0; p < 4; p++) expect(features[p * 3 + 1]).toBeCloseTo(bm25[p] / best, 12);
    // Case and whitespace folded: entries a and b carry the query's instruction.
    expect([features[2], features[5], features[8], features[11]]).toEqual([1, 1, 0, 0]);
  });

  it("is all zeros for BM25 when no word is shared, and falls back to the text for the instruction", () => {
    const space = new CandidateFeatureSpace({ entries }, ["bm25", "sameInstruction"]);
    expect(Array.from(space.compute({ text: "zzz qqq", embedding: [] }))).toEqual(new Array(8).fill(0));
    expect(
      Array.from(space.compute({ text: "Reverse the word", embedding: [] })).filter((_, i) => i % 2 === 1),
    ).toEqual([0, 0, 0, 1]);
    expect(normalizedInstruction("  Ｒeverse\tthe  WORD ")).toBe("reverse the word");
  });

  it("rejects unknown features and a cosine feature without embeddings", () => {
    expect(() => new CandidateFeatureSpace({ entries }, ["length" as never])).toThrow(/unknown feature "length"/);
    expect(() => new CandidateFeatureSpace({ entries }, ["cosine"])).toThrow(/cosine feature needs an embedded pool/);
  });
});
