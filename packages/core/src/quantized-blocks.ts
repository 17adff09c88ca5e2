// llama.cpp's Q8_0 and Q4_0 block formats (ggml-common.h, ggml-quants.c), byte for byte. A tensor's
// rows are cut into blocks of 32 consecutive values; each block stores one f16 scale d and 32 small
// integers q, and a value is q·d.
//   Q8_0 block (34 bytes): d (f16), qs[32] (int8)                  value j = qs[j]·d
//   Q4_0 block (18 bytes): d (f16), qs[16] (two 4-bit codes each)  value j = ((qs[j] & 15) − 8)·d,
//                                                                  value j+16 = ((qs[j] >> 4) − 8)·d
// The quantizers are llama.cpp's reference ones (quantize_row_q8_0_ref, quantize_row_q4_0_ref) in
// float32 arithmetic, so pillow writes the blocks llama-quantize would.

import { float16BitsOf, float16ToFloat32Table } from "./float16.js";

export const QUANTIZED_BLOCK_SIZE = 32;
export const Q8_0_BLOCK_BYTES = 34;
export const Q4_0_BLOCK_BYTES = 18;

function checkBlocks(what: string, values: number): void {
  if (!Number.isInteger(values) || values % QUANTIZED_BLOCK_SIZE !== 0) {
    throw new RangeError(`${what}: ${values} values is not a whole number of ${QUANTIZED_BLOCK_SIZE}-value blocks`);
  }
}

/** C's roundf: halves away from zero (Math.round sends −2.5 to −2). */
function roundHalfAwayFromZero(value: number): number {
  return value < 0 ? -Math.round(-value) : Math.round(value);
}

/** Q8_0 blocks → f32 values. bytes: [values / 32 × 34] → output: [values]. */
export function dequantizeQ8_0(bytes: Uint8Array, values: number, output = new Float32Array(values)): Float32Array {
  checkBlocks("dequantizeQ8_0", values);
  const blocks = values / QUANTIZED_BLOCK_SIZE;
  if (bytes.length < blocks * Q8_0_BLOCK_BYTES)
    throw new RangeError(
      `dequantizeQ8_0: ${values} values need ${blocks * Q8_0_BLOCK_BYTES} bytes, got ${bytes.length}`,
    );
  const table = float16ToFloat32Table();
  for (let block = 0; block < blocks; block++) {
    const at = block * Q8_0_BLOCK_BYTES;
    const scale = table[bytes[at] | (bytes[at + 1] << 8)];
    const out = block * QUANTIZED_BLOCK_SIZE;
    // (byte << 24) >> 24 reads the byte as a signed int8.
    for (let j = 0; j < QUANTIZED_BLOCK_SIZE; j++) output[out + j] = ((bytes[at + 2 + j] << 24) >> 24) * scale;
  }
  return output;
}

/** Q4_0 blocks → f32 values. bytes: [values / 32 × 18] → output: [values]. */
export function dequantizeQ4_0(bytes: Uint8Array, values: number, output = new Float32Array(values)): Float32Array {
  checkBlocks("dequantizeQ4_0", values);
  const blocks = values / QUANTIZED_BLOCK_SIZE;
  if (bytes.length < blocks * Q4_0_BLOCK_BYTES)
    throw new RangeError(
      `dequantizeQ4_0: ${values} values need ${blocks * Q4_0_BLOCK_BYTES} bytes, got ${bytes.length}`,
    );
  const table = float16ToFloat32Table();
  const half = QUANTIZED_BLOCK_SIZE / 2;
  for (let block = 0; block < blocks; block++) {
    const at = block * Q4_0_BLOCK_BYTES;
    const scale = table[bytes[at] | (bytes[at + 1] << 8)];
    const out = block * QUANTIZED_BLOCK_SIZE;
    for (let j = 0; j < half; j++) {
      const packed = bytes[at + 2 + j];
      output[out + j] = ((packed & 0x0f) - 8) * scale;
      output[out + j + half] = ((packed >> 4) - 8) * scale;
    }
  }
  return output;
}

/** f32 values → Q8_0 blocks (quantize_row_q8_0_ref). values: [n] → [n / 32 × 34] bytes. */
export function quantizeQ8_0(values: Float32Array): Uint8Array {
  checkBlocks("quantizeQ8_0", values.length);
  const blocks = values.length / QUANTIZED_BLOCK_SIZE;
  const bytes = new Uint8Array(blocks * Q8_0_BLOCK_BYTES);
  const f = Math.fround;
  for (let block = 0; block < blocks; block++) {
    const from = block * QUANTIZED_BLOCK_SIZE;
    let absoluteMax = 0;
    for (let j = 0; j < QUANTIZED_BLOCK_SIZE; j++) absoluteMax = Math.max(absoluteMax, Math.abs(values[from + j]));
    const scale = f(absoluteMax / 127);
    // The codes use the f32 scale; only the stored scale is rounded to f16 (as llama.cpp does).
    const inverse = scale !== 0 ? f(1 / scale) : 0;
    const bits = float16BitsOf(scale);
    const at = block * Q8_0_BLOCK_BYTES;
    bytes[at] = bits & 0xff;
    bytes[at + 1] = bits >> 8;
    for (let j = 0; j < QUANTIZED_BLOCK_SIZE; j++)
      bytes[at + 2 + j] = roundHalfAwayFromZero(f(values[from + j] * inverse)) & 0xff;
  }
  return bytes;
}

/** f32 values → Q4_0 blocks (quantize_row_q4_0_ref). values: [n] → [n / 32 × 18] bytes. */
export function quantizeQ4_0(values: Float32Array): Uint8Array {
  checkBlocks("quantizeQ4_0", values.length);
  const blocks = values.length / QUANTIZED_BLOCK_SIZE;
  const bytes = new Uint8Array(blocks * Q4_0_BLOCK_BYTES);
  const f = Math.fround;
  const half = QUANTIZED_BLOCK_SIZE / 2;
  for (let block = 0; block < blocks; block++) {
    const from = block * QUANTIZED_BLOCK_SIZE;
    // The signed value of largest magnitude (the first one on ties) maps to code 0, i.e. −8·d.
    let absoluteMax = 0;
    let signedMax = 0;
    for (let j = 0; j < QUANTIZED_BLOCK_SIZE; j++) {
      const value = values[from + j];
      if (absoluteMax < Math.abs(value)) {
        absoluteMax = Math.abs(value);
        signedMax = value;
      }
    }
    const scale = f(signedMax / -8);
    const inverse = scale !== 0 ? f(1 / scale) : 0;
    const bits = float16BitsOf(scale);
    const at = block * Q4_0_BLOCK_BYTES;
    bytes[at] = bits & 0xff;
    bytes[at + 1] = bits >> 8;
    for (let j = 0; j < half; j++) {
      // (int8_t)(x + 8.5f) truncates toward zero; the sum is never negative here.
      const low = Math.min(15, Math.trunc(f(f(values[from + j] * inverse) + 8.5)));
      const high = Math.min(15, Math.trunc(f(f(values[from + j + half] * inverse) + 8.5)));
      bytes[at + 2 + j] = low | (high << 4);
    }
  }
  return bytes;
}
