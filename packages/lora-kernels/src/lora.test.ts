import { describe, expect, it } from "vitest";
import {
  backendInfo,
  fromBf16,
  type LoraShape,
  loraMatmul,
  loraMatmulAsync,
  matmul,
  referenceLoraMatmul,
  toBf16,
} from "./index.js";
import { maxRelativeError, randomArray, seededRandom } from "./test-utils.js";

// The grid of odd shapes.
const tokenCounts = [1, 3, 17, 64];
const widths = [1, 7, 65, 300];
const ranks = [1, 7, 64, 256];

function problem(shape: LoraShape, seed: number) {
  const random = seededRandom(seed);
  return {
    x: randomArray(shape.tokens * shape.inFeatures, random),
    w: randomArray(shape.outFeatures * shape.inFeatures, random),
    a: randomArray(shape.rank * shape.inFeatures, random),
    b: randomArray(shape.outFeatures * shape.rank, random),
  };
}

// Where the CPU has BF16 dot products (backendInfo().cpu.bf16Dot), a bf16 W's GEMM form (more than 4
// tokens) rounds x to bf16 for the base product x·Wᵀ, as oneDNN and llama.cpp do; the rank-r term
// keeps f32 x. The reference then does the same: base(bf16(x)) + [lora(x) − base(x)].
const bf16Dot = backendInfo().cpu.bf16Dot !== null;

function referenceBf16Weights(
  x: Float32Array,
  w: Float32Array,
  a: Float32Array,
  b: Float32Array,
  shape: LoraShape,
  scale: number,
) {
  const full = referenceLoraMatmul(x, w, a, b, shape, scale);
  if (!bf16Dot || shape.tokens <= 4) return full;
  const noLora = new Float32Array(b.length);
  const base = referenceLoraMatmul(x, w, a, noLora, shape, scale);
  const rounded = referenceLoraMatmul(fromBf16(toBf16(x)), w, a, noLora, shape, scale);
  return full.map((value, i) => value - base[i] + rounded[i]);
}

describe("loraMatmul", () => {
  it("matches the TS reference on every odd shape of the grid, f32 and bf16 weights (<= 1e-4 relative)", () => {
    let seed = 1;
    let worst = 0;
    for (const tokens of tokenCounts)
      for (const inFeatures of widths)
        for (const outFeatures of widths)
          for (const rank of ranks) {
            const shape = { tokens, inFeatures, outFeatures, rank };
            const { x, w, a, b } = problem(shape, seed++);
            const scale = 0.5;
            const f32 = loraMatmul(x, w, a, b, shape, scale);
            const f32Error = maxRelativeError(f32, referenceLoraMatmul(x, w, a, b, shape, scale));
            expect(f32Error, JSON.stringify(shape)).toBeLessThan(1e-4);
            const wBf16 = toBf16(w);
            const bf16 = loraMatmul(x, wBf16, a, b, shape, scale);
            const bf16Error = maxRelativeError(bf16, referenceBf16Weights(x, fromBf16(wBf16), a, b, shape, scale));
            expect(bf16Error, `bf16 ${JSON.stringify(shape)}`).toBeLessThan(1e-4);
            worst = Math.max(worst, f32Error, bf16Error);
          }
    expect(worst).toBeGreaterThan(0); // the comparison really compared numbers
  });

  it("computes a hand-checked case", () => {
    // x = [1, 2], W = I₂, A = [[1, 1]] (r = 1), B = [[1], [-1]], scale 2:
    // x·Aᵀ = 3; y = [1, 2] + 2·3·[1, -1] = [7, -4]
    const y = loraMatmul(
      new Float32Array([1, 2]),
      new Float32Array([1, 0, 0, 1]),
      new Float32Array([1, 1]),
      new Float32Array([1, -1]),
      { tokens: 1, inFeatures: 2, outFeatures: 2, rank: 1 },
      2,
    );
    expect(Array.from(y)).toEqual([7, -4]);
  });

  it("with rank 0 is the base matmul", () => {
    const shape = { tokens: 5, inFeatures: 33, outFeatures: 9, rank: 0 };
    const { x, w } = problem(shape, 77);
    const empty = new Float32Array(0);
    expect(Array.from(loraMatmul(x, w, empty, empty, shape, 1))).toEqual(Array.from(matmul(x, w, shape)));
  });

  it("loraMatmulAsync gives the same numbers off the JS thread", async () => {
    const shape = { tokens: 17, inFeatures: 65, outFeatures: 300, rank: 7 };
    const { x, w, a, b } = problem(shape, 5);
    const wBf16 = toBf16(w);
    const [asyncF32, asyncBf16] = await Promise.all([
      loraMatmulAsync(x, w, a, b, shape, 0.25),
      loraMatmulAsync(x, wBf16, a, b, shape, 0.25),
    ]);
    expect(Array.from(asyncF32)).toEqual(Array.from(loraMatmul(x, w, a, b, shape, 0.25)));
    expect(Array.from(asyncBf16)).toEqual(Array.from(loraMatmul(x, wBf16, a, b, shape, 0.25)));
  });

  it("rejects wrong lengths with E_SHAPE naming the argument", () => {
    const shape = { tokens: 2, inFeatures: 3, outFeatures: 4, rank: 2 };
    const { x, w, a, b } = problem(shape, 9);
    const expectShape = (call: () => unknown, text: string) =>
      expect(call).toThrowError(expect.objectContaining({ code: "E_SHAPE", message: expect.stringContaining(text) }));
    expectShape(() => loraMatmul(x.subarray(1), w, a, b, shape, 1), "x has length 5, expected 6");
    expectShape(() => loraMatmul(x, w.subarray(1), a, b, shape, 1), "w has length 11, expected 12");
    expectShape(() => loraMatmul(x, toBf16(w.subarray(2)), a, b, shape, 1), "w has length 10, expected 12");
    expectShape(() => loraMatmul(x, w, a.subarray(1), b, shape, 1), "a has length 5, expected 6");
    expectShape(() => loraMatmul(x, w, a, new Float32Array(9), shape, 1), "b has length 9, expected 8");
    expectShape(() => loraMatmul(x, w, a, b, { ...shape, rank: -1 }, 1), "shape.rank");
    expectShape(() => loraMatmul(x, w, a, b, { ...shape, inFeatures: 2.5 }, 1), "shape.inFeatures");
    expectShape(() => loraMatmulAsync(x, w, a, b.subarray(1), shape, 1), "b has length 7");
  });

  it("rejects bad types and values with codes instead of crashing", () => {
    const shape = { tokens: 1, inFeatures: 2, outFeatures: 2, rank: 1 };
    const { x, w, a, b } = problem(shape, 10);
    // A plain Uint16Array could be f16 or bf16: it must be tagged.
    expect(() => loraMatmul(x, new Uint16Array(4) as never, a, b, shape, 1)).toThrowError(
      expect.objectContaining({ code: "E_TYPE", message: expect.stringContaining("bf16(bits)") }),
    );
    expect(() => loraMatmul(x, w, a, b, shape, Number.NaN)).toThrowError(
      expect.objectContaining({ code: "E_ARGUMENT", message: expect.stringContaining("scale") }),
    );
    expect(() => loraMatmul(new Float64Array(2) as never, w, a, b, shape, 1)).toThrowError(
      expect.objectContaining({ code: "E_TYPE", message: expect.stringContaining("x must be a Float32Array") }),
    );
  });
});
