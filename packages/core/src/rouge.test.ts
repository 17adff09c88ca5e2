import { describe, expect, it } from "vitest";
import { longestCommonSubsequence, rougeL, rougeLOfTokens, rougeTokens } from "./rouge.js";

describe("rougeL", () => {
  it("tokenizes to lower-case alphanumeric runs", () => {
    expect(rougeTokens("Yes, I like cats.")).toEqual(["yes", "i", "like", "cats"]);
    expect(rougeTokens("forty-two")).toEqual(["forty", "two"]);
    expect(rougeTokens("  ")).toEqual([]);
  });

  it("matches hand-computed values", () => {
    expect(longestCommonSubsequence(["a", "b", "c", "d"], ["a", "c", "d", "b"])).toBe(3);
    expect(rougeL("the cat sat", "the cat sat")).toBe(1);
    // LCS("the cat", "the big cat") = 2: P = 1, R = 2/3, F = 0.8.
    expect(rougeL("the cat", "the big cat")).toBeCloseTo(0.8, 12);
    // LCS("cat the", "the cat") = 1: P = R = 1/2.
    expect(rougeL("cat the", "the cat")).toBeCloseTo(0.5, 12);
    expect(rougeL("dog", "cat")).toBe(0);
    expect(rougeL("", "cat")).toBe(0);
    // rouge-score returns 0 whenever either side has no token, both empty included.
    expect(rougeL("", "")).toBe(0);
    expect(rougeL("!!", "?")).toBe(0);
    expect(rougeL("North America", "north america")).toBe(1);
    // LCS("the cat sat", "the cat on the mat") = "the cat" = 2; P = 2/3, R = 2/5 → F1 = 0.5.
    expect(rougeL("The cat sat", "the cat on the mat")).toBeCloseTo(0.5, 14);
    expect(rougeL("a b c", "c b a")).toBeCloseTo(1 / 3, 14);
    // Non-ASCII letters separate tokens: "café au lait" → caf, au, lait.
    expect(rougeL("café au lait", "caf au lait")).toBe(1);
  });

  it("reports precision and recall against the reference", () => {
    // LCS(prediction "a b c x", reference "a c") = 2: P = 2/4, R = 2/2, F = 2·0.5·1/1.5.
    const score = rougeLOfTokens(["a", "b", "c", "x"], ["a", "c"]);
    expect(score.precision).toBeCloseTo(0.5, 12);
    expect(score.recall).toBe(1);
    expect(score.fmeasure).toBeCloseTo(2 / 3, 12);
    expect(() => rougeTokens(undefined as unknown as string)).toThrow(/expected a string/);
  });
});
