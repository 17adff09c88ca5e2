// llama.cpp's Q4_K / Q5_K / Q6_K super-blocks on hand-built blocks: the bytes are packed here from
// ggml-common.h's struct comments (scales and mins in get_scale_min_k4's 12-byte layout, Q6_K's
// split low/high bits), the expected values are the formulas of dequantize_row_q*_K worked out on
// small integers (exact in f32).
import { describe, expect, it } from "vitest";
import { dequantizeQ4_K, dequantizeQ5_K, dequantizeQ6_K } from "./k-quant-blocks.js";

/** The 12 bytes holding eight 6-bit scales and eight 6-bit mins (llama.cpp's K_SCALE_SIZE layout). */
function packScalesAndMins(scales: number[], mins: number[]): number[] {
  const bytes = new Array(12).fill(0);
  for (let j = 0; j < 4; j++) {
    bytes[j] = scales[j] | ((scales[j + 4] >> 4) << 6); // low 6 bits: scale j; top 2: scale j+4's bits 4-5
    bytes[j + 4] = mins[j] | ((mins[j + 4] >> 4) << 6); // low 6 bits: min j; top 2: min j+4's bits 4-5
    bytes[j + 8] = (scales[j + 4] & 15) | ((mins[j + 4] & 15) << 4);
  }
  return bytes;
}

// Sub-block scales and mins, some above 15 so the packed high bits are exercised.
const SCALES = [1, 2, 3, 4, 5, 37, 7, 63];
const MINS = [0, 1, 2, 3, 4, 5, 50, 17];

describe("Q4_K (d, dmin, scales[12], qs[128])", () => {
  it("dequantizes a hand-built super-block: value = d·scale·q − dmin·min per 32-value sub-block", () => {
    // d = 1 (f16 0x3C00), dmin = 0.5 (0x3800). Sub-block 2r takes the low nibbles of qs[32r..32r+31],
    // sub-block 2r+1 their high nibbles. Code of value l in a sub-block: l & 15 (low), 15 − (l & 15) (high).
    const bytes = new Uint8Array(144);
    bytes.set([0x00, 0x3c, 0x00, 0x38], 0);
    bytes.set(packScalesAndMins(SCALES, MINS), 4);
    for (let round = 0; round < 4; round++)
      for (let l = 0; l < 32; l++) bytes[16 + 32 * round + l] = (l & 15) | ((15 - (l & 15)) << 4);
    const values = dequantizeQ4_K(bytes, 256);
    for (let sub = 0; sub < 8; sub++) {
      for (let l = 0; l < 32; l++) {
        const code = sub % 2 === 0 ? l & 15 : 15 - (l & 15);
        expect(values[32 * sub + l], `sub-block ${sub}, value ${l}`).toBe(1 * SCALES[sub] * code - 0.5 * MINS[sub]);
      }
    }
  });
});

describe("Q5_K (d, dmin, scales[12], qh[32], qs[128])", () => {
  it("dequantizes a hand-built super-block: the fifth bit of sub-block s's value l is bit s of qh[l]", () => {
    const bytes = new Uint8Array(176);
    bytes.set([0x00, 0x40, 0x00, 0x3c], 0); // d = 2, dmin = 1
    bytes.set(packScalesAndMins(SCALES, MINS), 4);
    // qh[l] = l·37 mod 256: a different pattern of fifth bits for every value.
    for (let l = 0; l < 32; l++) bytes[16 + l] = (l * 37) & 0xff;
    for (let round = 0; round < 4; round++)
      for (let l = 0; l < 32; l++) bytes[48 + 32 * round + l] = (l & 15) | ((15 - (l & 15)) << 4);
    const values = dequantizeQ5_K(bytes, 256);
    for (let sub = 0; sub < 8; sub++) {
      for (let l = 0; l < 32; l++) {
        const low = sub % 2 === 0 ? l & 15 : 15 - (l & 15);
        const code = low + ((((l * 37) & 0xff) >> sub) & 1) * 16;
        expect(values[32 * sub + l], `sub-block ${sub}, value ${l}`).toBe(2 * SCALES[sub] * code - 1 * MINS[sub]);
      }
    }
  });
});

describe("Q6_K (ql[128], qh[64], scales[16] int8, d)", () => {
  it("dequantizes a hand-built super-block: value = d·scale·(q − 32) per 16-value sub-block", () => {
    // The 6-bit code of value v is (7v) mod 64; sub-block scales alternate in sign.
    const code = (v: number) => (7 * v) % 64;
    const scales = Array.from({ length: 16 }, (_, s) => (s % 2 === 0 ? 1 : -1) * (s + 1));
    const bytes = new Uint8Array(210);
    for (let half = 0; half < 2; half++) {
      for (let l = 0; l < 32; l++) {
        // Value 128h + l + 32k: k = 0/1 low nibbles of ql[64h + l] / ql[64h + l + 32], k = 2/3 their high
        // nibbles; its two high bits are bits 2k, 2k+1 of qh[32h + l].
        const [c0, c1, c2, c3] = [0, 1, 2, 3].map((k) => code(128 * half + l + 32 * k));
        bytes[64 * half + l] = (c0 & 15) | ((c2 & 15) << 4);
        bytes[64 * half + l + 32] = (c1 & 15) | ((c3 & 15) << 4);
        bytes[128 + 32 * half + l] = (c0 >> 4) | ((c1 >> 4) << 2) | ((c2 >> 4) << 4) | ((c3 >> 4) << 6);
      }
    }
    scales.forEach((scale, s) => {
      bytes[192 + s] = scale & 0xff;
    });
    bytes.set([0x00, 0x38], 208); // d = 0.5
    const values = dequantizeQ6_K(bytes, 256);
    for (let v = 0; v < 256; v++) expect(values[v], `value ${v}`).toBe(0.5 * scales[v >> 4] * (code(v) - 32));
  });

  it("refuses lengths that are not whole super-blocks", () => {
    expect(() => dequantizeQ6_K(new Uint8Array(210), 128)).toThrow(/whole number of 256-value super-blocks/);
    expect(() => dequantizeQ4_K(new Uint8Array(100), 256)).toThrow(/need 144 bytes/);
  });
});
