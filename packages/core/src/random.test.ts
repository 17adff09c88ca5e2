import { describe, expect, it } from "vitest";
import { createRandom, deriveSeed, hashString, Random } from "./random.js";

describe("Random", () => {
  it("draws the xoshiro128** stream seeded by splitmix32", () => {
    // From an independent Python implementation of the published algorithms (splitmix32 seeding four
    // words, then xoshiro128**), run on the seeds 7, 0 and 2³² − 1.
    const reference: Record<number, number[]> = {
      7: [1004282400, 2200021487, 1928073449, 741806228, 2429532727],
      0: [3809008728, 1133695204, 53579671, 2891528803, 139681546],
      4294967295: [835879718, 1921286648, 2356205009, 1885780724, 980451116],
    };
    for (const [seed, stream] of Object.entries(reference)) {
      const random = new Random(Number(seed));
      expect(stream.map(() => random.nextUint32())).toEqual(stream);
    }
  });

  it("resumes from its state with the same draws", () => {
    const random = new Random(3);
    random.next();
    const resumed = Random.fromState(random.state());
    expect(Array.from({ length: 5 }, () => resumed.nextUint32())).toEqual(
      Array.from({ length: 5 }, () => random.nextUint32()),
    );
    expect(() => Random.fromState([1, 2, 3])).toThrow(/four unsigned 32-bit/);
  });

  it("seeds from strings by their FNV-1a hash", () => {
    expect(createRandom("task").next()).toBe(new Random(hashString("task")).next());
    expect(createRandom(42).next()).toBe(new Random(42).next());
    expect(() => createRandom(Number.POSITIVE_INFINITY)).toThrow(/finite/);
  });

  it("draws roughly uniform integers, weighted indices and ranges", () => {
    const random = new Random(1);
    const counts = new Array(4).fill(0);
    for (let i = 0; i < 40000; i++) counts[random.integer(4)]++;
    // 4 standard deviations of a binomial(40000, 1/4) count are about 350.
    for (const count of counts) expect(Math.abs(count - 10000)).toBeLessThan(400);
    const weighted = [0, 0, 0];
    for (let i = 0; i < 40000; i++) weighted[random.weighted([1, 0, 3])]++;
    expect(weighted[1]).toBe(0);
    expect(Math.abs(weighted[2] / 40000 - 0.75)).toBeLessThan(0.02);
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) seen.add(random.between(-3, 3));
    expect([...seen].sort((a, b) => a - b)).toEqual([-3, -2, -1, 0, 1, 2, 3]);
    expect(() => random.integer(0)).toThrow(/positive integer/);
    expect(() => random.integer(2.5)).toThrow(/positive integer/);
    expect(() => random.pick([])).toThrow(/empty/);
    expect(() => random.weighted([0, 0])).toThrow(/positive/);
  });

  it("draws standard normals", () => {
    const random = new Random(11);
    const draws = Array.from({ length: 20000 }, () => random.normal());
    const mean = draws.reduce((sum, x) => sum + x, 0) / draws.length;
    const variance = draws.reduce((sum, x) => sum + (x - mean) ** 2, 0) / draws.length;
    // Standard errors: mean 0.007, variance 0.01.
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(variance - 1)).toBeLessThan(0.05);
  });

  it("shuffles in place or into a copy with the same draws, and samples without repetition", () => {
    const items = Array.from({ length: 20 }, (_, i) => i);
    const copy = new Random(5).shuffled(items);
    expect(items).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(new Random(5).shuffle(items.slice())).toEqual(copy);
    expect([...copy].sort((a, b) => a - b)).toEqual(items);
    const sample = new Random(5).sample(items, 7);
    expect(new Set(sample).size).toBe(7);
    expect(new Random(5).sample(items, 20).sort((a, b) => a - b)).toEqual(items);
    expect(() => new Random(5).sample(items, 21)).toThrow(/asked for 21 of 20/);
  });
});

describe("hashString and deriveSeed", () => {
  it("hashes with 32-bit FNV-1a", () => {
    // "" is the offset basis; "a" and "foobar" are published FNV-1a test vectors.
    expect(hashString("")).toBe(0x811c9dc5);
    expect(hashString("a")).toBe(0xe40c292c);
    expect(hashString("foobar")).toBe(0xbf9cf968);
    // With a seed: the values matcher's own hash gave before it moved here.
    expect(hashString("query", 17)).toBe(2951896144);
    expect(hashString("", 3)).toBe(2166136262);
  });

  it("derives the child seeds replay's own deriveSeed gave before it moved here", () => {
    expect(deriveSeed(0, "replay", 3, "inscl")).toBe(338692041);
    expect(deriveSeed(-7.5, "stage-order", 2)).toBe(959147299);
    expect(deriveSeed(2 ** 33 + 5)).toBe(2166136256);
    expect(deriveSeed(1, "a\u00ffb", 4)).toBe(4095380102);
    expect(deriveSeed(1, "ab", "c")).not.toBe(deriveSeed(1, "a", "bc"));
  });
});
