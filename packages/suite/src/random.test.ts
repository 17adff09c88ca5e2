import { describe, expect, it } from "vitest";
import { createRandom, hashString } from "./random.js";

describe("createRandom", () => {
  it("repeats its stream for a seed and differs across seeds", () => {
    const a = createRandom(42);
    const b = createRandom(42);
    const c = createRandom(43);
    const streamA = Array.from({ length: 8 }, () => a.next());
    expect(Array.from({ length: 8 }, () => b.next())).toEqual(streamA);
    expect(Array.from({ length: 8 }, () => c.next())).not.toEqual(streamA);
    expect(createRandom("task").next()).toBe(createRandom("task").next());
  });

  it("draws roughly uniform integers and weighted indices in range", () => {
    const random = createRandom(1);
    const counts = new Array(4).fill(0);
    for (let i = 0; i < 40000; i++) counts[random.int(4)]++;
    for (const count of counts) expect(Math.abs(count - 10000)).toBeLessThan(400);
    const weighted = [0, 0, 0];
    for (let i = 0; i < 40000; i++) weighted[random.weighted([1, 0, 3])]++;
    expect(weighted[1]).toBe(0);
    expect(Math.abs(weighted[2] / 40000 - 0.75)).toBeLessThan(0.02);
    for (let i = 0; i < 1000; i++) {
      const value = random.between(-3, 3);
      expect(value).toBeGreaterThanOrEqual(-3);
      expect(value).toBeLessThanOrEqual(3);
    }
  });

  it("shuffles and samples without repetition", () => {
    const random = createRandom(5);
    const items = Array.from({ length: 20 }, (_, i) => i);
    expect([...random.shuffle(items)].sort((x, y) => x - y)).toEqual(items);
    const sample = random.sample(items, 7);
    expect(new Set(sample).size).toBe(7);
    expect(() => random.sample(items, 21)).toThrow(/asked for 21 of 20/);
    expect(() => random.int(0)).toThrow(/positive integer/);
    expect(() => createRandom(Number.POSITIVE_INFINITY)).toThrow(/finite/);
  });

  it("hashes with 32-bit FNV-1a", () => {
    // Reference values of FNV-1a 32 ("" is the offset basis; "a" is a published test vector).
    expect(hashString("")).toBe(0x811c9dc5);
    expect(hashString("a")).toBe(0xe40c292c);
    expect(hashString("foobar")).toBe(0xbf9cf968);
  });
});
