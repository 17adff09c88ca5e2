import { readFileSync } from "node:fs";
import { CachedEmbedder, createRandom } from "@pillow/matcher";
import { describe, expect, it } from "vitest";
import {
  embeddingCosine,
  exactMatch,
  longestCommonSubsequence,
  resolveReward,
  rewards,
  rougeLScore,
  rougeNScore,
  rougeTokens,
  tokenize13a,
} from "./index.js";

describe("ROUGE (rouge-score defaults), hand-computed", () => {
  it("tokenises like rouge-score: lower-case, non-[a-z0-9] runs separate, no stemming", () => {
    expect(rougeTokens("Hello, WORLD!! don't 3.14 running")).toEqual([
      "hello",
      "world",
      "don",
      "t",
      "3",
      "14",
      "running",
    ]);
    expect(rougeTokens("café naïve")).toEqual(["caf", "na", "ve"]);
    expect(rougeTokens("東京タワー !!! ...")).toEqual([]);
    expect(rougeTokens("")).toEqual([]);
  });

  it("ROUGE-L is the LCS F1", () => {
    // LCS of (the cat sat on the mat) and (the cat is on the mat) is "the cat on the mat" = 5 of 6.
    expect(rewards.rougeL("the cat sat on the mat", "the cat is on the mat")).toBeCloseTo(5 / 6, 15);
    expect(rougeLScore("the cat", "the cat sat")).toEqual({ precision: 1, recall: 2 / 3, fmeasure: 0.8 });
    // Repeats: the LCS of (a b a b) and (b a b a) is 3 long.
    expect(rewards.rougeL("a b a b", "b a b a")).toBeCloseTo(0.75, 15);
    expect(rewards.rougeL("Hello, world!!", "hello world")).toBe(1);
    expect(rewards.rougeL("zero overlap", "nothing shared")).toBe(0);
  });

  it("scores 0 when either side is empty (or has no tokens)", () => {
    expect(rewards.rougeL("", "the cat")).toBe(0);
    expect(rewards.rougeL("the cat", "")).toBe(0);
    expect(rewards.rougeL("", "")).toBe(0);
    expect(rewards.rougeL("!!!", "!!!")).toBe(0);
    expect(rewards.rouge1("", "")).toBe(0);
    expect(rewards.rouge2("cat", "cat")).toBe(0); // no bigrams on either side
  });

  it("ROUGE-1/2 clip repeated n-grams by the reference count", () => {
    // rouge1: overlap min(4, 1) = 1; P = 1/4, R = 1/2, F = 1/3.
    const score = rougeNScore("the the the the", "the cat", 1);
    expect(score.precision).toBe(0.25);
    expect(score.recall).toBe(0.5);
    expect(score.fmeasure).toBeCloseTo(1 / 3, 15);
    expect(rewards.rouge2("the the the the", "the cat")).toBe(0);
    // 3 of the 5 bigrams match on both sides.
    expect(rewards.rouge2("the cat sat on the mat", "the cat is on the mat")).toBeCloseTo(3 / 5, 15);
    expect(() => rougeNScore("a", "a", 0)).toThrow(/n must be a positive integer/);
  });

  it("drops non-ASCII letters by default; the unicode tokeniser keeps them and splits CJK characters", () => {
    expect(rewards.rougeL("東京タワーへ", "東京タワーに")).toBe(0);
    expect(rewards.rougeL("東京タワーへ", "東京タワーに", { tokenizer: "unicode" })).toBeCloseTo(5 / 6, 15);
    expect(rewards.rougeL("Café Über", "café über", { tokenizer: "unicode" })).toBe(1);
    // By default é and Ü separate tokens, leaving caf / ber on both sides.
    expect(rewards.rougeL("Café Über", "cafe uber")).toBe(0);
    expect(rewards.rouge1("Café", "café")).toBe(1);
    expect(rewards.rougeL("a b", "a b", { tokenizer: (text) => text.split("") })).toBe(1);
    expect(() => rewards.rougeL("a", "b", { tokenizer: "nltk" as "unicode" })).toThrow(/unknown tokenizer "nltk"/);
  });

  it("LCS agrees with a brute-force recursive reference on random sequences", () => {
    const random = createRandom(7);
    const reference = (a: string[], b: string[]): number => {
      const memo = new Map<string, number>();
      const go = (i: number, j: number): number => {
        if (i === a.length || j === b.length) return 0;
        const key = `${i},${j}`;
        if (!memo.has(key)) memo.set(key, a[i] === b[j] ? 1 + go(i + 1, j + 1) : Math.max(go(i + 1, j), go(i, j + 1)));
        return memo.get(key)!;
      };
      return go(0, 0);
    };
    for (let trial = 0; trial < 200; trial++) {
      const a = Array.from({ length: random.integer(12) }, () => "abc"[random.integer(3)]);
      const b = Array.from({ length: random.integer(12) }, () => "abc"[random.integer(3)]);
      expect(longestCommonSubsequence(a, b)).toBe(reference(a, b));
    }
  });
});

describe("BLEU and chrF against sacrebleu 2.6.0 (fixtures/generate-sacrebleu.py)", () => {
  const fixture = JSON.parse(readFileSync(new URL("./fixtures/sacrebleu-reference.json", import.meta.url), "utf8")) as {
    cases: { prediction: string; reference: string; bleu: number; chrf: number }[];
  };

  it("has the reference cases", () => {
    expect(fixture.cases.length).toBeGreaterThanOrEqual(20);
  });

  for (const testCase of fixture.cases) {
    it(`matches on ${JSON.stringify(testCase.prediction).slice(0, 40)} vs ${JSON.stringify(testCase.reference).slice(0, 40)}`, () => {
      expect(rewards.bleu(testCase.prediction, testCase.reference)).toBeCloseTo(testCase.bleu, 12);
      expect(rewards.chrF(testCase.prediction, testCase.reference)).toBeCloseTo(testCase.chrf, 12);
    });
  }

  it("BLEU hand check: one missing 4-gram order uses the exp smoothing", () => {
    // hypothesis "a b c d" vs reference "a b c e": p1 = 3/4, p2 = 2/3, p3 = 1/2, p4 = 0 → 1/(2·1).
    const expected = Math.exp((Math.log(3 / 4) + Math.log(2 / 3) + Math.log(1 / 2) + Math.log(1 / 2)) / 4);
    expect(rewards.bleu("a b c d", "a b c e")).toBeCloseTo(expected, 14);
    expect(tokenize13a("Hello, world! 3.5 (x)")).toEqual(["Hello", ",", "world", "!", "3.5", "(", "x", ")"]);
  });
});

describe("exactMatch and embeddingCosine", () => {
  it("exactMatch normalises case and whitespace unless told not to", () => {
    expect(exactMatch("  Paris\n", "paris")).toBe(1);
    expect(exactMatch("Paris  France", "paris france")).toBe(1);
    expect(exactMatch("Paris", "London")).toBe(0);
    expect(exactMatch("Paris", "paris", { normalize: false })).toBe(0);
    expect(exactMatch("", "")).toBe(1);
  });

  it("embeddingCosine is the cosine of the embeddings, 0 for an empty side", async () => {
    const embedder = new CachedEmbedder("letters", async (texts) =>
      texts.map((text) => Float32Array.of(text.split("a").length - 1, text.split("b").length - 1)),
    );
    const reward = embeddingCosine(embedder);
    expect(await reward("aa", "a")).toBeCloseTo(1, 6);
    expect(await reward("a", "b")).toBe(0);
    expect(await reward("ab", "a")).toBeCloseTo(Math.SQRT1_2, 6);
    expect(await reward("", "a")).toBe(0);
  });

  it("resolveReward maps names and keeps functions", () => {
    expect(resolveReward(undefined)("a b", "a b")).toBe(1);
    expect(resolveReward("exactMatch")("A", "a")).toBe(1);
    const custom = (prediction: string) => prediction.length;
    expect(resolveReward(custom)).toBe(custom);
    expect(() => resolveReward("meteor" as "bleu")).toThrow(/unknown reward "meteor"/);
  });
});
