import { describe, expect, it } from "vitest";
import { longestCommonSubsequence, rougeL, rougeTokens } from "./rouge.js";

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
    expect(rougeL("", "")).toBe(1);
    expect(rougeL("North America", "north america")).toBe(1);
  });
});
