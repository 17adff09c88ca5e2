import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  bfloat16BitsToFloat32,
  float16BitsToBfloat16Bits,
  float16BitsToFloat32,
  float32BitsToBfloat16Bits,
  float32BitsToFloat16Bits,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
} from "./float16.js";

const allPatterns = Uint16Array.from({ length: 65536 }, (_, i) => i);
const isHalfNaN = (bits: number) => (bits & 0x7c00) === 0x7c00 && (bits & 0x3ff) !== 0;
const isBfloatNaN = (bits: number) => (bits & 0x7f80) === 0x7f80 && (bits & 0x7f) !== 0;

describe("16-bit float conversions (exhaustive over all 65536 patterns)", () => {
  it("f16 → f32 → f16 is the identity (NaN stays NaN)", () => {
    const back = float32ToFloat16Bits(float16BitsToFloat32(allPatterns));
    for (let bits = 0; bits < 65536; bits++) {
      if (isHalfNaN(bits)) expect(isHalfNaN(back[bits])).toBe(true);
      else expect(back[bits]).toBe(bits);
    }
  });

  it("bf16 → f32 → bf16 is the identity (NaN stays NaN)", () => {
    const back = float32ToBfloat16Bits(bfloat16BitsToFloat32(allPatterns));
    for (let bits = 0; bits < 65536; bits++) {
      if (isBfloatNaN(bits)) expect(isBfloatNaN(back[bits])).toBe(true);
      else expect(back[bits]).toBe(bits);
    }
  });

  it("f16 → f32 matches the format's definition at landmarks", () => {
    const values = float16BitsToFloat32(
      new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0400, 0x0001, 0x7c00, 0xfc00, 0x8000, 0x3555]),
    );
    expect(Array.from(values.subarray(0, 8))).toEqual([
      1,
      -2,
      65504,
      2 ** -14,
      2 ** -24,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      -0,
    ]);
    expect(values[8]).toBeCloseTo(1 / 3, 3);
  });

  it("f16 → bf16 equals f16 → f32 → bf16", () => {
    const direct = float16BitsToBfloat16Bits(allPatterns);
    const viaFloat = float32ToBfloat16Bits(float16BitsToFloat32(allPatterns));
    expect(direct).toEqual(viaFloat);
  });
});

describe("rounding from f32 (property)", () => {
  // Below the largest bf16, where rounding up would overflow to infinity (as PyTorch's does too).
  const finiteFloat = fc.float({ noNaN: true, min: Math.fround(-3e38), max: Math.fround(3e38) });

  it("f32 → bf16 picks the nearer neighbour, ties to even", () => {
    fc.assert(
      fc.property(finiteFloat, (value) => {
        const bits = new Uint32Array(new Float32Array([value]).buffer)[0];
        const rounded = float32BitsToBfloat16Bits(bits);
        const down = bits >>> 16;
        const candidates = [down, down + 1].filter(
          (candidate) => (candidate & 0x7f80) !== 0x7f80 || (candidate & 0x7f) === 0,
        );
        const asFloat = (b: number) => new Float32Array(new Uint32Array([(b & 0xffff) << 16]).buffer)[0];
        const error = (b: number) => Math.abs(asFloat(b) - value);
        const best = Math.min(...candidates.map(error));
        expect(error(rounded)).toBe(best);
        if (candidates.length === 2 && error(candidates[0]) === error(candidates[1]) && rounded !== (rounded & ~1))
          throw new Error("tie not rounded to even");
      }),
      { numRuns: 5000, seed: 42 },
    );
  });

  it("f32 → f16 is within half a unit in the last place (or saturates to infinity)", () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true, min: -70000, max: 70000 }), (value) => {
        const bits = new Uint32Array(new Float32Array([value]).buffer)[0];
        const half = float32BitsToFloat16Bits(bits);
        const back = float16BitsToFloat32(new Uint16Array([half]))[0];
        if (Math.abs(value) >= 65520) {
          expect(Math.abs(back)).toBe(Number.POSITIVE_INFINITY);
          return;
        }
        const exponent = Math.max(Math.floor(Math.log2(Math.abs(value) || 2 ** -24)), -14);
        const unit = 2 ** (exponent - 10);
        expect(Math.abs(back - value)).toBeLessThanOrEqual(unit / 2);
      }),
      { numRuns: 5000, seed: 43 },
    );
  });
});
