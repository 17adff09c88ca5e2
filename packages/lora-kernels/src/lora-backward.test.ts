import { describe, expect, it } from "vitest";
import {
  fromBf16,
  type LoraShape,
  loraMatmul,
  loraMatmulBackward,
  loraMatmulBackwardAsync,
  referenceLoraMatmulBackward,
  toBf16,
} from "./index.js";
import { maxRelativeError, randomArray, seededRandom } from "./test-utils.js";

function problem(shape: LoraShape, seed: number) {
  const random = seededRandom(seed);
  return {
    x: randomArray(shape.tokens * shape.inFeatures, random),
    w: randomArray(shape.outFeatures * shape.inFeatures, random),
    a: randomArray(shape.rank * shape.inFeatures, random),
    b: randomArray(shape.outFeatures * shape.rank, random),
    dy: randomArray(shape.tokens * shape.outFeatures, random),
  };
}

// loss = Σ y ⊙ dy, so ∂loss/∂y = dy; evaluated in f64 over the native forward.
function loss(y: Float32Array, dy: Float32Array): number {
  let total = 0;
  for (let i = 0; i < y.length; i++) total += y[i] * dy[i];
  return total;
}

describe("loraMatmulBackward", () => {
  it("matches the TS reference over odd shapes, ranks 1..256, f32 and bf16 weights", () => {
    let seed = 300;
    for (const tokens of [1, 3, 17, 64])
      for (const [inFeatures, outFeatures] of [
        [1, 7],
        [65, 1],
        [7, 300],
        [300, 65],
      ])
        for (const rank of [1, 7, 64, 256]) {
          const shape = { tokens, inFeatures, outFeatures, rank };
          const { x, w, a, b, dy } = problem(shape, seed++);
          for (const weight of [w, toBf16(w)]) {
            const wide = weight instanceof Float32Array ? weight : fromBf16(weight);
            const got = loraMatmulBackward(dy, x, weight, a, b, shape, 0.75);
            const expected = referenceLoraMatmulBackward(dy, x, wide, a, b, shape, 0.75);
            const label = `${JSON.stringify(shape)} ${weight instanceof Float32Array ? "f32" : "bf16"}`;
            expect(maxRelativeError(got.dx, expected.dx), `dx ${label}`).toBeLessThan(1e-4);
            expect(maxRelativeError(got.da, expected.da), `da ${label}`).toBeLessThan(1e-4);
            expect(maxRelativeError(got.db, expected.db), `db ${label}`).toBeLessThan(1e-4);
          }
        }
  });

  it("agrees with central finite differences of the forward on small shapes", () => {
    for (const [shapeIndex, shape] of [
      { tokens: 3, inFeatures: 5, outFeatures: 4, rank: 2 },
      { tokens: 1, inFeatures: 7, outFeatures: 3, rank: 1 },
      { tokens: 4, inFeatures: 3, outFeatures: 6, rank: 3 },
    ].entries()) {
      const { x, w, a, b, dy } = problem(shape, 900 + shapeIndex);
      const scale = 1.5;
      const { dx, da, db } = loraMatmulBackward(dy, x, w, a, b, shape, scale);
      // y is linear in each of x, A and B separately, so the central difference is exact up to f32
      // rounding of the forward; h = 0.05 keeps that rounding small relative to the slope.
      const h = 0.05;
      const check = (parameter: Float32Array, gradient: Float32Array, name: string) => {
        for (let i = 0; i < parameter.length; i++) {
          const saved = parameter[i];
          parameter[i] = saved + h;
          const plus = loss(loraMatmul(x, w, a, b, shape, scale), dy);
          parameter[i] = saved - h;
          const minus = loss(loraMatmul(x, w, a, b, shape, scale), dy);
          parameter[i] = saved;
          const numeric = (plus - minus) / (2 * h);
          expect(Math.abs(gradient[i] - numeric), `${name}[${i}] of ${JSON.stringify(shape)}`).toBeLessThan(
            2e-4 * (1 + Math.abs(numeric)),
          );
        }
      };
      check(x, dx, "dx");
      check(a, da, "da");
      check(b, db, "db");
    }
  });

  it("loraMatmulBackwardAsync gives the same numbers", async () => {
    const shape = { tokens: 17, inFeatures: 65, outFeatures: 33, rank: 7 };
    const { x, w, a, b, dy } = problem(shape, 44);
    const sync = loraMatmulBackward(dy, x, w, a, b, shape, 2);
    const viaAsync = await loraMatmulBackwardAsync(dy, x, w, a, b, shape, 2);
    expect(Array.from(viaAsync.dx)).toEqual(Array.from(sync.dx));
    expect(Array.from(viaAsync.da)).toEqual(Array.from(sync.da));
    expect(Array.from(viaAsync.db)).toEqual(Array.from(sync.db));
  });

  it("with rank 0 returns dx = dy·W and empty adapter gradients", () => {
    const shape = { tokens: 2, inFeatures: 3, outFeatures: 2, rank: 0 };
    // dy = [[1, 0], [0, 2]], W = [[1, 2, 3], [4, 5, 6]] -> dx = [[1, 2, 3], [8, 10, 12]]
    const empty = new Float32Array(0);
    const { dx, da, db } = loraMatmulBackward(
      new Float32Array([1, 0, 0, 2]),
      new Float32Array(6),
      new Float32Array([1, 2, 3, 4, 5, 6]),
      empty,
      empty,
      shape,
      1,
    );
    expect(Array.from(dx)).toEqual([1, 2, 3, 8, 10, 12]);
    expect(da.length).toBe(0);
    expect(db.length).toBe(0);
  });

  it("rejects a wrong-length dy with E_SHAPE naming it", () => {
    const shape = { tokens: 2, inFeatures: 3, outFeatures: 4, rank: 1 };
    const { x, w, a, b } = problem(shape, 4);
    expect(() => loraMatmulBackward(new Float32Array(7), x, w, a, b, shape, 1)).toThrowError(
      expect.objectContaining({ code: "E_SHAPE", message: expect.stringContaining("dy has length 7, expected 8") }),
    );
  });
});
