// llama.cpp's Q8_0 / Q4_0 layouts on hand-built blocks: bytes written out by hand from ggml-common.h's
// struct definitions, values worked out by hand from dequantize_row_q8_0 / dequantize_row_q4_0; and
// the quantizers on inputs whose codes follow from quantize_row_*_ref by hand.
import { describe, expect, it } from "vitest";
import { dequantizeQ4_0, dequantizeQ8_0, quantizeQ4_0, quantizeQ8_0 } from "./quantized-blocks.js";

describe("Q8_0 (d: f16, qs: int8[32])", () => {
  it("dequantizes hand-built blocks", () => {
    // Block 0: d = 0.5 (f16 0x3800), qs = −16 … 15. Block 1: d = −2 (0xC000), qs = 127, −128, then 0.
    const bytes = new Uint8Array(68);
    bytes[0] = 0x00;
    bytes[1] = 0x38;
    for (let j = 0; j < 32; j++) bytes[2 + j] = (j - 16) & 0xff;
    bytes[34] = 0x00;
    bytes[35] = 0xc0;
    bytes[36] = 127;
    bytes[37] = 0x80;
    const values = dequantizeQ8_0(bytes, 64);
    expect(Array.from(values.subarray(0, 32))).toEqual(Array.from({ length: 32 }, (_, j) => (j - 16) * 0.5));
    expect(values[32]).toBe(-254);
    expect(values[33]).toBe(256);
    expect(Array.from(values.subarray(34)).every((v) => v === 0)).toBe(true);
  });

  it("quantizes as quantize_row_q8_0_ref: d = max|x| / 127 stored as f16, codes rounded half away from zero", () => {
    // max |x| = 127 → d = 1 exactly; 2.5 → 3 and −2.5 → −3 (roundf), 0.49 → 0, −127 → −127.
    const values = new Float32Array(32);
    values.set([127, 2.5, -2.5, 0.49, -127, 1.5, -0.5]);
    const bytes = quantizeQ8_0(values);
    expect(bytes.length).toBe(34);
    expect(bytes[0] | (bytes[1] << 8)).toBe(0x3c00); // f16 1.0
    expect(Array.from(bytes.subarray(2, 9), (b) => (b << 24) >> 24)).toEqual([127, 3, -3, 0, -127, 2, -1]);
    // An all-zero block: d = 0 and every code 0 (no division by zero).
    expect(Array.from(quantizeQ8_0(new Float32Array(32)))).toEqual(new Array(34).fill(0));
  });

  it("round-trips within half a step of the f16 scale", () => {
    const values = Float32Array.from({ length: 32 * 50 }, (_, i) => Math.sin(i * 1.7) * (1 + (i % 7)));
    const back = dequantizeQ8_0(quantizeQ8_0(values), values.length);
    for (let block = 0; block < 50; block++) {
      const slice = values.subarray(block * 32, block * 32 + 32);
      const step = Math.max(...Array.from(slice, Math.abs)) / 127;
      // Half a step from rounding, plus the f16 scale's relative error (2^-11) times the code (≤ 127).
      for (let j = 0; j < 32; j++)
        expect(Math.abs(back[block * 32 + j] - slice[j])).toBeLessThanOrEqual(step * (0.5 + 127 * 2 ** -11) + 1e-7);
    }
  });
});

describe("Q4_0 (d: f16, qs: uint8[16], value j low nibble, value j + 16 high nibble)", () => {
  it("dequantizes a hand-built block", () => {
    // d = 0.25 (f16 0x3400). qs[j] = j | (15 − j) << 4: value j = (j − 8)/4, value j+16 = (7 − j)/4.
    const bytes = new Uint8Array(18);
    bytes[0] = 0x00;
    bytes[1] = 0x34;
    for (let j = 0; j < 16; j++) bytes[2 + j] = j | ((15 - j) << 4);
    const values = dequantizeQ4_0(bytes, 32);
    expect(Array.from(values.subarray(0, 16))).toEqual(Array.from({ length: 16 }, (_, j) => (j - 8) / 4));
    expect(Array.from(values.subarray(16))).toEqual(Array.from({ length: 16 }, (_, j) => (7 - j) / 4));
  });

  it("quantizes as quantize_row_q4_0_ref: d = (signed max) / −8, codes trunc(x/d + 8.5) capped at 15", () => {
    // The largest magnitude is −8 → d = 1, so x maps to code trunc(x + 8.5): −8 → 0, 7 → 15, 7.9 → 15
    // (16 capped), 0.4 → 8, −0.6 → 7 (7.9 truncated).
    const values = new Float32Array(32);
    values.set([-8, 7, 7.9, 0.4, -0.6]);
    values[16] = 3;
    const bytes = quantizeQ4_0(values);
    expect(bytes.length).toBe(18);
    expect(bytes[0] | (bytes[1] << 8)).toBe(0x3c00);
    expect(Array.from(bytes.subarray(2, 7), (b) => b & 15)).toEqual([0, 15, 15, 8, 7]);
    expect(bytes[2] >> 4).toBe(11); // value 16 = 3 → trunc(11.5)
    // A positive largest value gives a negative d: 8 → d = −1, so 8 → code 0 and −7 → 15.
    const positive = new Float32Array(32);
    positive.set([8, -7]);
    const flipped = quantizeQ4_0(positive);
    expect(flipped[0] | (flipped[1] << 8)).toBe(0xbc00); // f16 −1.0
    expect(Array.from(dequantizeQ4_0(flipped, 32).subarray(0, 3), (v) => v + 0)).toEqual([8, -7, 0]); // + 0: (0 − 8)·−1 is 8, (8 − 8)·−1 is −0
  });

  it("refuses lengths that are not whole blocks", () => {
    expect(() => quantizeQ4_0(new Float32Array(31))).toThrow(/whole number of 32-value blocks/);
    expect(() => dequantizeQ8_0(new Uint8Array(33), 32)).toThrow(/need 34 bytes/);
  });
});
