import { describe, expect, it } from "vitest";
import { loraMatmul, loraMatmulAsync, matmul, matmulAsync, referenceMatmul } from "./index.js";
import { maxRelativeError, randomArray, seededRandom } from "./test-utils.js";

// `out`: a caller-owned result buffer (reused across calls instead of a fresh allocation per call).
describe("out: the result written into a caller's buffer", () => {
  const random = seededRandom(23);
  const shape = { tokens: 17, inFeatures: 65, outFeatures: 33 };
  const x = randomArray(shape.tokens * shape.inFeatures, random);
  const w = randomArray(shape.outFeatures * shape.inFeatures, random);
  const rank = 4;
  const a = randomArray(rank * shape.inFeatures, random);
  const b = randomArray(shape.outFeatures * rank, random);

  it("matmul and matmulAsync fill out (every element overwritten) and return it", async () => {
    const expected = referenceMatmul(x, w, shape);
    const out = new Float32Array(shape.tokens * shape.outFeatures).fill(Number.NaN);
    const returned = matmul(x, w, shape, { out });
    expect(returned).toBe(out);
    expect(maxRelativeError(out, expected)).toBeLessThan(1e-5);
    out.fill(Number.NaN);
    const asyncReturned = await matmulAsync(x, w, shape, { out });
    expect(asyncReturned).toBe(out);
    expect(Array.from(out)).toEqual(Array.from(matmul(x, w, shape)));
  });

  it("loraMatmul and loraMatmulAsync give the same numbers into out as into a new array", async () => {
    const fresh = loraMatmul(x, w, a, b, { ...shape, rank }, 0.5);
    const out = new Float32Array(fresh.length).fill(Number.NaN);
    expect(loraMatmul(x, w, a, b, { ...shape, rank }, 0.5, { out })).toBe(out);
    expect(Array.from(out)).toEqual(Array.from(fresh));
    out.fill(Number.NaN);
    expect(await loraMatmulAsync(x, w, a, b, { ...shape, rank }, 0.5, { out })).toBe(out);
    expect(Array.from(out)).toEqual(Array.from(fresh));
    // Rank 0 (no adapter, empty a and b): the base product.
    const base = new Float32Array(fresh.length);
    loraMatmul(x, w, new Float32Array(0), new Float32Array(0), { ...shape, rank: 0 }, 1, { out: base });
    expect(maxRelativeError(base, referenceMatmul(x, w, shape))).toBeLessThan(1e-5);
  });

  it("refuses an out of the wrong length or type, or one that shares memory with an input", () => {
    expect(() => matmul(x, w, shape, { out: new Float32Array(3) })).toThrow(
      expect.objectContaining({ code: "E_SHAPE", message: expect.stringMatching(/out has length 3, expected 561/) }),
    );
    expect(() => matmul(x, w, shape, { out: new Uint16Array(561) as unknown as Float32Array })).toThrow(
      expect.objectContaining({ code: "E_TYPE", message: expect.stringMatching(/out must be a Float32Array/) }),
    );
    // x viewed again as the output: the product would read what it is overwriting.
    const shared = new Float32Array(x.length + 561);
    shared.set(x);
    const xView = shared.subarray(0, x.length);
    const overlapping = shared.subarray(x.length - 1, x.length - 1 + 561);
    expect(() => matmul(xView, w, shape, { out: overlapping })).toThrow(
      expect.objectContaining({ code: "E_ARGUMENT", message: expect.stringMatching(/out shares memory with x/) }),
    );
    // Adjacent but disjoint views of one buffer are fine.
    const adjacent = shared.subarray(x.length, x.length + 561);
    expect(maxRelativeError(matmul(xView, w, shape, { out: adjacent }), referenceMatmul(x, w, shape))).toBeLessThan(
      1e-5,
    );
    expect(() => loraMatmul(x, w, a, b, { ...shape, rank }, 0.5, { out: b as Float32Array })).toThrow(/out/);
  });
});
