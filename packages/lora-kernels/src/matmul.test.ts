import { describe, expect, it } from "vitest";
import { matmul, matmulAsync, referenceMatmul } from "./index.js";
import { maxRelativeError, randomArray, seededRandom } from "./test-utils.js";

const oddDimensions = [1, 3, 17, 65, 257];

describe("matmul", () => {
  it("matches the TS reference on 20 random odd shapes", () => {
    const random = seededRandom(7);
    const pick = () => oddDimensions[Math.floor(((random() + 1) / 2) * oddDimensions.length)];
    for (let i = 0; i < 20; i++) {
      const shape = { tokens: pick(), inFeatures: pick(), outFeatures: pick() };
      const x = randomArray(shape.tokens * shape.inFeatures, random);
      const w = randomArray(shape.outFeatures * shape.inFeatures, random);
      const error = maxRelativeError(matmul(x, w, shape), referenceMatmul(x, w, shape));
      expect(error, JSON.stringify(shape)).toBeLessThan(1e-5);
    }
  });

  it("computes a hand-checked case", () => {
    // x = [[1,2],[3,4]], w = [[1,0],[0,1],[1,1]] -> y = x·wᵀ = [[1,2,3],[3,4,7]]
    const y = matmul(new Float32Array([1, 2, 3, 4]), new Float32Array([1, 0, 0, 1, 1, 1]), {
      tokens: 2,
      inFeatures: 2,
      outFeatures: 3,
    });
    expect(Array.from(y)).toEqual([1, 2, 3, 3, 4, 7]);
  });

  it("matmulAsync runs off the JS thread and gives the same numbers", async () => {
    const random = seededRandom(11);
    const shape = { tokens: 65, inFeatures: 257, outFeatures: 17 };
    const x = randomArray(shape.tokens * shape.inFeatures, random);
    const w = randomArray(shape.outFeatures * shape.inFeatures, random);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const [asyncResult] = await Promise.all([matmulAsync(x, w, shape), new Promise((r) => setTimeout(r, 5))]);
    clearInterval(timer);
    expect(maxRelativeError(asyncResult, referenceMatmul(x, w, shape))).toBeLessThan(1e-5);
    expect(Array.from(asyncResult)).toEqual(Array.from(matmul(x, w, shape)));
    expect(ticks).toBeGreaterThanOrEqual(0);
  });

  it("rejects a wrong-length input with E_SHAPE naming the argument", () => {
    const shape = { tokens: 2, inFeatures: 3, outFeatures: 4 };
    expect(() => matmul(new Float32Array(6), new Float32Array(11), shape)).toThrowError(
      expect.objectContaining({ code: "E_SHAPE", message: expect.stringContaining("w has length 11, expected 12") }),
    );
    expect(() => matmul(new Float32Array(5), new Float32Array(12), shape)).toThrowError(
      expect.objectContaining({ code: "E_SHAPE", message: expect.stringMatching(/^x /) }),
    );
  });

  it("rejects bad shapes and types with codes instead of crashing", async () => {
    const x = new Float32Array(4);
    expect(() => matmul(x, x, { tokens: 0, inFeatures: 2, outFeatures: 2 })).toThrowError(
      expect.objectContaining({ code: "E_SHAPE", message: expect.stringContaining("shape.tokens") }),
    );
    expect(() => matmul(x, x, { tokens: 1.5, inFeatures: 2, outFeatures: 2 })).toThrowError(
      expect.objectContaining({ code: "E_SHAPE" }),
    );
    expect(() =>
      matmul(new Float64Array(4) as unknown as Float32Array, x, { tokens: 2, inFeatures: 2, outFeatures: 2 }),
    ).toThrowError(
      expect.objectContaining({ code: "E_TYPE", message: expect.stringContaining("x must be a Float32Array") }),
    );
    expect(() =>
      matmul(x, x, null as unknown as { tokens: number; inFeatures: number; outFeatures: number }),
    ).toThrowError(expect.objectContaining({ code: "E_TYPE" }));
    // the async form checks synchronously too, before queueing any work
    expect(() => matmulAsync(x, new Float32Array(3), { tokens: 2, inFeatures: 2, outFeatures: 2 })).toThrowError(
      expect.objectContaining({ code: "E_SHAPE" }),
    );
  });
});
