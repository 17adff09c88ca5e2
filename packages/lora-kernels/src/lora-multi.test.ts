import { describe, expect, it } from "vitest";
import {
  fromBf16,
  type LoraAdapter,
  loraMatmulMulti,
  loraMatmulMultiAsync,
  referenceLoraMatmulMulti,
  toBf16,
} from "./index.js";
import { maxRelativeError, randomArray, seededRandom } from "./test-utils.js";

function adaptersFor(ranks: number[], inFeatures: number, outFeatures: number, seed: number): LoraAdapter[] {
  const random = seededRandom(seed);
  return ranks.map((rank, j) => ({
    rank,
    scale: 0.5 + j * 0.25,
    a: randomArray(rank * inFeatures, random),
    b: randomArray(outFeatures * rank, random),
  }));
}

describe("loraMatmulMulti", () => {
  it("matches per-row single-adapter references with 8 adapters of different ranks and base-only rows", () => {
    const ranks = [1, 7, 64, 3, 16, 256, 2, 9];
    for (const [inFeatures, outFeatures, tokens] of [
      [65, 300, 64],
      [300, 7, 17],
      [7, 65, 3],
    ]) {
      const random = seededRandom(inFeatures * 1000 + outFeatures);
      const adapters = adaptersFor(ranks, inFeatures, outFeatures, tokens);
      const x = randomArray(tokens * inFeatures, random);
      const w = randomArray(outFeatures * inFeatures, random);
      const adapterIndex = Int32Array.from({ length: tokens }, (_, t) => ((t * 5) % 9) - 1); // -1..7 mixed
      const shape = { tokens, inFeatures, outFeatures };
      for (const weight of [w, toBf16(w)]) {
        const wide = weight instanceof Float32Array ? weight : fromBf16(weight);
        const error = maxRelativeError(
          loraMatmulMulti(x, weight, adapters, adapterIndex, shape),
          referenceLoraMatmulMulti(x, wide, adapters, adapterIndex, shape),
        );
        expect(error, JSON.stringify(shape)).toBeLessThan(1e-4);
      }
    }
  });

  it("loraMatmulMultiAsync gives the same numbers", async () => {
    const adapters = adaptersFor([4, 8], 33, 20, 3);
    const random = seededRandom(8);
    const x = randomArray(10 * 33, random);
    const w = randomArray(20 * 33, random);
    const index = Int32Array.from([0, 1, -1, 1, 0, 0, -1, 1, 1, 0]);
    const shape = { tokens: 10, inFeatures: 33, outFeatures: 20 };
    const result = await loraMatmulMultiAsync(x, w, adapters, index, shape);
    expect(Array.from(result)).toEqual(Array.from(loraMatmulMulti(x, w, adapters, index, shape)));
  });

  it("rejects bad adapters and indices with codes naming them", () => {
    const adapters = adaptersFor([2, 3], 4, 5, 1);
    const x = new Float32Array(2 * 4);
    const w = new Float32Array(5 * 4);
    const shape = { tokens: 2, inFeatures: 4, outFeatures: 5 };
    expect(() => loraMatmulMulti(x, w, adapters, Int32Array.from([0, 2]), shape)).toThrowError(
      expect.objectContaining({ code: "E_ARGUMENT", message: expect.stringContaining("adapterIndex[1] = 2") }),
    );
    expect(() => loraMatmulMulti(x, w, adapters, Int32Array.from([0]), shape)).toThrowError(
      expect.objectContaining({ code: "E_SHAPE", message: expect.stringContaining("adapterIndex has length 1") }),
    );
    const broken = [adapters[0], { ...adapters[1], b: new Float32Array(3) }];
    expect(() => loraMatmulMulti(x, w, broken, Int32Array.from([0, 1]), shape)).toThrowError(
      expect.objectContaining({
        code: "E_SHAPE",
        message: expect.stringContaining("adapters[1].b has length 3, expected 15"),
      }),
    );
    const zeroRank = [{ ...adapters[0], rank: 0 }];
    expect(() => loraMatmulMulti(x, w, zeroRank, Int32Array.from([0, 0]), shape)).toThrowError(
      expect.objectContaining({ code: "E_SHAPE", message: expect.stringContaining("adapters[0].rank") }),
    );
  });
});
