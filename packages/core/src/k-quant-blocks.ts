// llama.cpp's k-quant super-blocks (ggml-common.h; dequantize_row_q4_K / q5_K / q6_K in
// ggml-quants.c), read into f32 with the same float32 operations in the same order, so the values
// are bit-identical to llama.cpp's. These are what "Q4_K_M" / "Q5_K_M" downloads hold (Q4_K or Q5_K
// matrices, some Q6_K); pillow also writes Q4_K (quantizeQ4_K below). 256 values per super-block:
//   Q4_K (144 bytes): d, dmin (f16), scales[12] (eight 6-bit scales and mins), qs[128] (4-bit codes)
//                     value = d·scale_j·q − dmin·min_j over 8 sub-blocks of 32
//   Q5_K (176 bytes): d, dmin, scales[12], qh[32] (each code's fifth bit), qs[128]
//   Q6_K (210 bytes): ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] (int8), d (f16)
//                     value = d·scale_j·(q − 32) over 16 sub-blocks of 16

import { float16BitsOf, float16ToFloat32Table } from "./float16.js";

export const SUPER_BLOCK_SIZE = 256;
export const Q4_K_BLOCK_BYTES = 144;
export const Q5_K_BLOCK_BYTES = 176;
export const Q6_K_BLOCK_BYTES = 210;

/** values / 256; a RangeError naming `what` unless that is a whole number. */
function wholeSuperBlocks(what: string, values: number): number {
  if (!Number.isInteger(values) || values % SUPER_BLOCK_SIZE !== 0) {
    throw new RangeError(`${what}: ${values} values is not a whole number of ${SUPER_BLOCK_SIZE}-value super-blocks`);
  }
  return values / SUPER_BLOCK_SIZE;
}

function superBlocks(what: string, bytes: Uint8Array, values: number, blockBytes: number): number {
  const blocks = wholeSuperBlocks(what, values);
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

// Q4_K's writer. Per 32-value sub-block j it looks for the scale s_j ≥ 0 and min m_j ≥ 0 with
// value ≈ s_j·q − m_j (q in 0…15) of least weighted squared error, the search llama.cpp's
// quantize_row_q4_K_ref makes (make_qkx2_quants): 21 candidate steps around (max − min)/15, each
// rounding the codes and then fitting s and m to those codes by least squares; here the best fit is
// then polished by re-rounding the codes to it and refitting while that helps. The eight s_j and m_j
// become 6-bit multiples of the super-block's d = max s_j / 63 and dmin = max m_j / 63 (f16), and the
// codes are rounded once more against the steps a reader decodes, d·scale_j and dmin·min_j.

const SUB_BLOCK_SIZE = 32;
const SUB_BLOCKS = SUPER_BLOCK_SIZE / SUB_BLOCK_SIZE;
const Q4_K_LARGEST_CODE = 15;
const LARGEST_SIX_BIT = 63;
/** Candidate steps (max − min) / (15 + offset), offset −1, −0.9, …, +1: make_qkx2_quants' grid for Q4_K. */
const CANDIDATE_OFFSETS = Array.from({ length: 21 }, (_, k) => -1 + 0.1 * k);
const POLISH_ROUNDS = 4;

// The search's fits, kept in module scratch rather than objects: it runs ~26 fits per 32 values.
let fitScale = 0;
let fitMin = 0;
let fitError = 0;

/**
 * One candidate: codes q = clamp(round((x + min)·inverse), 0, 15) over the sub-block at `from`, then
 * the least squares of value ≈ scale·q − min' for those codes with min' ≥ 0 (a sub-block of positive
 * values gets min' 0 and scale Σwxq / Σwq²), into fitScale, fitMin and fitError (Σw·(scale·q − min' −
 * x)², from the sums: every term is within float64 rounding of the sub-block's Σwx², far below a 4-bit
 * fit's error). false when the codes are all equal (no fit).
 */
function fitRoundedCodes(
  values: Float32Array,
  from: number,
  weights: Float64Array,
  inverse: number,
  min: number,
  sumWeight: number,
  sumValue: number,
  sumValueSquared: number,
): boolean {
  let sumCode = 0;
  let sumCodeSquared = 0;
  let sumValueCode = 0;
  for (let l = 0; l < SUB_BLOCK_SIZE; l++) {
    const x = values[from + l];
    const q = nearestCode((x + min) * inverse);
    const w = weights[l];
    sumCode += w * q;
    sumCodeSquared += w * q * q;
    sumValueCode += w * x * q;
  }
  const determinant = sumWeight * sumCodeSquared - sumCode * sumCode;
  if (!(determinant > 0)) return false;
  let scale = (sumWeight * sumValueCode - sumValue * sumCode) / determinant;
  let offset = (sumCodeSquared * sumValue - sumCode * sumValueCode) / determinant;
  if (offset > 0) {
    offset = 0;
    scale = sumValueCode / sumCodeSquared;
  }
  fitScale = scale;
  fitMin = -offset;
  fitError =
    scale * scale * sumCodeSquared +
    2 * scale * offset * sumCode +
    offset * offset * sumWeight -
    2 * scale * sumValueCode -
    2 * offset * sumValue +
    sumValueSquared;
  return true;
}

/** round(scaled) (halves up, as Math.round) clamped to 0…15; the hot loop's one rounding. */
function nearestCode(scaled: number): number {
  if (!(scaled > 0)) return 0;
  if (scaled >= Q4_K_LARGEST_CODE) return Q4_K_LARGEST_CODE;
  return (scaled + 0.5) | 0;
}

/** Codes 0…15 of one sub-block for value ≈ step·q − min. */
function roundCodes(values: Float32Array, from: number, step: number, min: number, codes: Uint8Array, at: number) {
  const inverse = step > 0 ? 1 / step : 0;
  for (let l = 0; l < SUB_BLOCK_SIZE; l++) {
    codes[at + l] = nearestCode((values[from + l] + min) * inverse);
  }
}

/** The sub-block's (scale, min) of least weighted squared error the search finds, into fitScale and fitMin. */
function fitSubBlock(values: Float32Array, from: number, weights: Float64Array): void {
  let lowest = 0; // the min is never negative: a sub-block of positive values keeps 0 reachable
  let highest = Number.NEGATIVE_INFINITY;
  let sumWeight = 0;
  let sumValue = 0;
  let sumValueSquared = 0;
  for (let l = 0; l < SUB_BLOCK_SIZE; l++) {
    const x = values[from + l];
    const w = weights[l];
    lowest = Math.min(lowest, x);
    highest = Math.max(highest, x);
    sumWeight += w;
    sumValue += w * x;
    sumValueSquared += w * x * x;
  }
  if (!(highest > lowest)) {
    // Every value equals the (≤ 0) min.
    fitScale = 0;
    fitMin = -lowest;
    return;
  }
  const range = highest - lowest;
  // The plain min/max quantizer is the first candidate, so the search never does worse than it.
  const plainStep = range / Q4_K_LARGEST_CODE;
  let bestScale = plainStep;
  let bestMin = -lowest;
  let bestError = 0;
  for (let l = 0; l < SUB_BLOCK_SIZE; l++) {
    const x = values[from + l];
    const q = nearestCode((x - lowest) / plainStep);
    const difference = plainStep * q + lowest - x;
    bestError += weights[l] * difference * difference;
  }
  for (const offset of CANDIDATE_OFFSETS) {
    const inverse = (Q4_K_LARGEST_CODE + offset) / range;
    if (!fitRoundedCodes(values, from, weights, inverse, -lowest, sumWeight, sumValue, sumValueSquared)) continue;
    if (fitError < bestError) {
      bestScale = fitScale;
      bestMin = fitMin;
      bestError = fitError;
    }
  }
  for (let round = 0; round < POLISH_ROUNDS && bestScale > 0; round++) {
    if (!fitRoundedCodes(values, from, weights, 1 / bestScale, bestMin, sumWeight, sumValue, sumValueSquared)) break;
    if (!(fitError < bestError)) break;
    bestScale = fitScale;
    bestMin = fitMin;
    bestError = fitError;
  }
  fitScale = bestScale;
  fitMin = bestMin;
}

/** A 6-bit code of value / unit (0 when the unit is 0), as the 12 scale bytes hold. */
function sixBitCode(value: number, unit: number): number {
  if (!(unit > 0)) return 0;
  return Math.min(LARGEST_SIX_BIT, Math.max(0, Math.round(value / unit)));
}

/**
 * f32 values → Q4_K super-blocks (the method of quantize_row_q4_K_ref, not its exact bytes).
 * values: [n], n a multiple of 256 (a tensor's rows, each a whole number of super-blocks) →
 * [n / 256 × 144] bytes. Throws RangeError on a partial super-block, a non-finite value, or a
 * super-block whose scales overflow f16.
 */
export function quantizeQ4_K(values: Float32Array): Uint8Array {
  const blocks = wholeSuperBlocks("quantizeQ4_K", values.length);
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw new RangeError(`quantizeQ4_K: value ${i} is ${values[i]}, not finite`);
  }
  const bytes = new Uint8Array(blocks * Q4_K_BLOCK_BYTES);
  const table = float16ToFloat32Table();
  const f = Math.fround;
  const weights = new Float64Array(SUB_BLOCK_SIZE);
  const codes = new Uint8Array(SUPER_BLOCK_SIZE);
  const scales = new Float64Array(SUB_BLOCKS);
  const mins = new Float64Array(SUB_BLOCKS);
  for (let block = 0; block < blocks; block++) {
    const first = block * SUPER_BLOCK_SIZE;
    let largestScale = 0;
    let largestMin = 0;
    for (let j = 0; j < SUB_BLOCKS; j++) {
      const from = first + j * SUB_BLOCK_SIZE;
      // Weights |x| + rms: large values matter more, but no value is ignored.
      let sumSquares = 0;
      for (let l = 0; l < SUB_BLOCK_SIZE; l++) sumSquares += values[from + l] * values[from + l];
      const rms = Math.sqrt(sumSquares / SUB_BLOCK_SIZE);
      for (let l = 0; l < SUB_BLOCK_SIZE; l++) weights[l] = rms + Math.abs(values[from + l]);
      fitSubBlock(values, from, weights);
      scales[j] = fitScale;
      mins[j] = fitMin;
      largestScale = Math.max(largestScale, fitScale);
      largestMin = Math.max(largestMin, fitMin);
    }
    const dBits = float16BitsOf(largestScale / LARGEST_SIX_BIT);
    const dminBits = float16BitsOf(largestMin / LARGEST_SIX_BIT);
    const d = table[dBits];
    const dmin = table[dminBits];
    if (!Number.isFinite(d) || !Number.isFinite(dmin)) {
      throw new RangeError(
        `quantizeQ4_K: super-block ${block} (values ${first}…${first + SUPER_BLOCK_SIZE - 1}) needs d = ${largestScale / LARGEST_SIX_BIT}, dmin = ${largestMin / LARGEST_SIX_BIT}, beyond f16`,
      );
    }
    const at = block * Q4_K_BLOCK_BYTES;
    bytes[at] = dBits & 0xff;
    bytes[at + 1] = dBits >> 8;
    bytes[at + 2] = dminBits & 0xff;
    bytes[at + 3] = dminBits >> 8;
    // Codes against the f16 d and dmin a reader decodes, so their rounding is part of the fit.
    const scaleCodes = Array.from(scales, (scale) => sixBitCode(scale, d));
    const minCodes = Array.from(mins, (min) => sixBitCode(min, dmin));
    packScalesAndMins(scaleCodes, minCodes, bytes, at + 4);
    for (let j = 0; j < SUB_BLOCKS; j++) {
      // The steps in f32 as dequantizeQ4_K computes them.
      const step = f(d * scaleCodes[j]);
      const offset = f(dmin * minCodes[j]);
      if (step > 0) roundCodes(values, first + j * SUB_BLOCK_SIZE, step, offset, codes, j * SUB_BLOCK_SIZE);
      else codes.fill(0, j * SUB_BLOCK_SIZE, (j + 1) * SUB_BLOCK_SIZE); // every value decodes to −offset whatever its code
    }
    // Value 64r + l is qs[32r + l]'s low nibble, value 64r + 32 + l its high nibble.
    for (let round = 0; round < 4; round++) {
      for (let l = 0; l < 32; l++) {
        bytes[at + 16 + 32 * round + l] = codes[64 * round + l] | (codes[64 * round + 32 + l] << 4);
      }
    }
  }
  return bytes;
}

/**
 * Eight 6-bit scales and eight 6-bit mins into the 12 bytes get_scale_min_k4 reads: bytes 0–3 hold
 * scales 0–3 (low 6 bits) with scales 4–7's bits 4–5 on top, bytes 4–7 the same for the mins, and
 * bytes 8–11 scales 4–7's low 4 bits under mins 4–7's low 4 bits.
 */
function packScalesAndMins(scales: ArrayLike<number>, mins: ArrayLike<number>, bytes: Uint8Array, at: number) {
  for (let j = 0; j < 4; j++) {
    bytes[at + j] = scales[j] | ((scales[j + 4] >> 4) << 6);
    bytes[at + j + 4] = mins[j] | ((mins[j + 4] >> 4) << 6);
    bytes[at + j + 8] = (scales[j + 4] & 15) | ((mins[j + 4] & 15) << 4);
  }
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
