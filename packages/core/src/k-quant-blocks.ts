// llama.cpp's k-quant super-blocks (ggml-common.h; dequantize_row_q4_K / q5_K / q6_K in
// ggml-quants.c), read into f32 with the same float32 operations in the same order, so the values
// are bit-identical to llama.cpp's. These are what "Q4_K_M" / "Q5_K_M" downloads hold (Q4_K or Q5_K
// matrices, some Q6_K). 256 values per super-block:
//   Q4_K (144 bytes): d, dmin (f16), scales[12] (eight 6-bit scales and mins), qs[128] (4-bit codes)
//                     value = d·scale_j·q − dmin·min_j over 8 sub-blocks of 32
//   Q5_K (176 bytes): d, dmin, scales[12], qh[32] (each code's fifth bit), qs[128]
//   Q6_K (210 bytes): ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] (int8), d (f16)
//                     value = d·scale_j·(q − 32) over 16 sub-blocks of 16

import { float16ToFloat32Table } from "./float16.js";

export const SUPER_BLOCK_SIZE = 256;
export const Q4_K_BLOCK_BYTES = 144;
export const Q5_K_BLOCK_BYTES = 176;
export const Q6_K_BLOCK_BYTES = 210;

function superBlocks(what: string, bytes: Uint8Array, values: number, blockBytes: number): number {
  if (!Number.isInteger(values) || values % SUPER_BLOCK_SIZE !== 0) {
    throw new RangeError(`${what}: ${values} values is not a whole number of ${SUPER_BLOCK_SIZE}-value super-blocks`);
  }
  const blocks = values / SUPER_BLOCK_SIZE;
  if (bytes.length < blocks * blockBytes)
    throw new RangeError(`${what}: ${values} values need ${blocks * blockBytes} bytes, got ${bytes.length}`);
  return blocks;
}

/** get_scale_min_k4: sub-block j's 6-bit scale and min, packed into 12 bytes for the 8 sub-blocks. */
function scaleAndMin(scales: Uint8Array, at: number, j: number): [number, number] {
  if (j < 4) return [scales[at + j] & 63, scales[at + j + 4] & 63];
  return [
    (scales[at + j + 4] & 0xf) | ((scales[at + j - 4] >> 6) << 4),
    (scales[at + j + 4] >> 4) | ((scales[at + j] >> 6) << 4),
  ];
}

/**
 * Q4_K (bits 4) and Q5_K (bits 5) share the layout of scales and mins; Q5_K adds qh's fifth bits.
 * bytes: [values / 256 × blockBytes] → output: [values].
 */
function dequantizeScaleMin(bits: 4 | 5, bytes: Uint8Array, values: number, output: Float32Array): Float32Array {
  const blockBytes = bits === 4 ? Q4_K_BLOCK_BYTES : Q5_K_BLOCK_BYTES;
  const blocks = superBlocks(bits === 4 ? "dequantizeQ4_K" : "dequantizeQ5_K", bytes, values, blockBytes);
  const table = float16ToFloat32Table();
  const f = Math.fround;
  for (let block = 0; block < blocks; block++) {
    const at = block * blockBytes;
    const d = table[bytes[at] | (bytes[at + 1] << 8)];
    const dmin = table[bytes[at + 2] | (bytes[at + 3] << 8)];
    const scalesAt = at + 4;
    const highAt = at + 16; // Q5_K only
    let codesAt = bits === 4 ? at + 16 : at + 48;
    let out = block * SUPER_BLOCK_SIZE;
    // Four rounds of 64 values: the low nibbles of 32 bytes, then their high nibbles.
    for (let round = 0; round < 4; round++) {
      const [scaleLow, minLow] = scaleAndMin(bytes, scalesAt, 2 * round);
      const [scaleHigh, minHigh] = scaleAndMin(bytes, scalesAt, 2 * round + 1);
      // d·scale and dmin·min are exact in f32 (11 × 6 bits); so is step·q, so only the subtraction rounds.
      const stepLow = f(d * scaleLow);
      const offsetLow = f(dmin * minLow);
      const stepHigh = f(d * scaleHigh);
      const offsetHigh = f(dmin * minHigh);
      const lowBit = 1 << (2 * round);
      const highBit = 2 << (2 * round);
      for (let l = 0; l < 32; l++) {
        const code = bytes[codesAt + l] & 0xf;
        const fifth = bits === 5 && bytes[highAt + l] & lowBit ? 16 : 0;
        output[out + l] = f(f(stepLow * (code + fifth)) - offsetLow);
      }
      for (let l = 0; l < 32; l++) {
        const code = bytes[codesAt + l] >> 4;
        const fifth = bits === 5 && bytes[highAt + l] & highBit ? 16 : 0;
        output[out + 32 + l] = f(f(stepHigh * (code + fifth)) - offsetHigh);
      }
      codesAt += 32;
      out += 64;
    }
  }
  return output;
}

/** Q4_K super-blocks → f32 values (dequantize_row_q4_K). */
export function dequantizeQ4_K(bytes: Uint8Array, values: number, output = new Float32Array(values)): Float32Array {
  return dequantizeScaleMin(4, bytes, values, output);
}

/** Q5_K super-blocks → f32 values (dequantize_row_q5_K). */
export function dequantizeQ5_K(bytes: Uint8Array, values: number, output = new Float32Array(values)): Float32Array {
  return dequantizeScaleMin(5, bytes, values, output);
}

/** Q6_K super-blocks → f32 values (dequantize_row_q6_K). bytes: [values / 256 × 210] → output: [values]. */
export function dequantizeQ6_K(bytes: Uint8Array, values: number, output = new Float32Array(values)): Float32Array {
  const blocks = superBlocks("dequantizeQ6_K", bytes, values, Q6_K_BLOCK_BYTES);
  const table = float16ToFloat32Table();
  const f = Math.fround;
  for (let block = 0; block < blocks; block++) {
    const at = block * Q6_K_BLOCK_BYTES;
    const d = table[bytes[at + 208] | (bytes[at + 209] << 8)];
    // Two halves of 128 values, each from 64 ql bytes, 32 qh bytes and 8 scales.
    for (let half = 0; half < 2; half++) {
      const low = at + 64 * half;
      const high = at + 128 + 32 * half;
      const scales = at + 192 + 8 * half;
      const out = block * SUPER_BLOCK_SIZE + 128 * half;
      // (byte << 24) >> 24 reads a scale as int8; d·scale is exact in f32, (d·scale)·q rounds once.
      const step = (index: number) => f(d * ((bytes[scales + index] << 24) >> 24));
      for (let l = 0; l < 32; l++) {
        const group = l >> 4;
        const q1 = ((bytes[low + l] & 0xf) | (((bytes[high + l] >> 0) & 3) << 4)) - 32;
        const q2 = ((bytes[low + l + 32] & 0xf) | (((bytes[high + l] >> 2) & 3) << 4)) - 32;
        const q3 = ((bytes[low + l] >> 4) | (((bytes[high + l] >> 4) & 3) << 4)) - 32;
        const q4 = ((bytes[low + l + 32] >> 4) | (((bytes[high + l] >> 6) & 3) << 4)) - 32;
        output[out + l] = f(step(group) * q1);
        output[out + l + 32] = f(step(group + 2) * q2);
        output[out + l + 64] = f(step(group + 4) * q3);
        output[out + l + 96] = f(step(group + 6) * q4);
      }
    }
  }
  return output;
}
