// Conversions between float32 and the two 16-bit float formats checkpoints use. These run over whole
// tensors (hundreds of millions of elements), so they work on typed-array views of raw bits and never
// allocate per element.

let float16Table: Float32Array | undefined;

/** All 65536 f16 bit patterns as f32 (256 KiB, built once): conversion becomes one indexed load. */
export function float16ToFloat32Table(): Float32Array {
  if (float16Table) return float16Table;
  const table = new Float32Array(65536);
  for (let bits = 0; bits < 65536; bits++) {
    const sign = bits & 0x8000 ? -1 : 1;
    const exponent = (bits >>> 10) & 0x1f;
    const mantissa = bits & 0x3ff;
    if (exponent === 0) table[bits] = sign * mantissa * 2 ** -24;
    else if (exponent === 0x1f) table[bits] = mantissa === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
    else table[bits] = sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
  }
  float16Table = table;
  return table;
}

/** f16 bits → f32 values. `output` may be a separate array of the same length. */
export function float16BitsToFloat32(input: Uint16Array, output = new Float32Array(input.length)): Float32Array {
  const table = float16ToFloat32Table();
  for (let i = 0; i < input.length; i++) output[i] = table[input[i]];
  return output;
}

/** bf16 bits → f32 values: a bf16 is the top half of an f32, so this is a shift. */
export function bfloat16BitsToFloat32(input: Uint16Array, output = new Float32Array(input.length)): Float32Array {
  const outputBits = new Uint32Array(output.buffer, output.byteOffset, output.length);
  for (let i = 0; i < input.length; i++) outputBits[i] = input[i] << 16;
  return output;
}

/** One f32 bit pattern → bf16 bits, rounding to nearest even (as PyTorch's `.to(torch.bfloat16)`). */
export function float32BitsToBfloat16Bits(bits: number): number {
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) {
    // NaN: keep the sign, force a quiet NaN so rounding cannot turn it into infinity.
    return ((bits >>> 16) & 0x8000) | 0x7fc0;
  }
  // Below 2^32 for every non-NaN pattern, so the unsigned shift sees the exact sum.
  return ((bits >>> 0) + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
}

/** f32 values → bf16 bits (round to nearest even). */
export function float32ToBfloat16Bits(input: Float32Array, output = new Uint16Array(input.length)): Uint16Array {
  const inputBits = new Uint32Array(input.buffer, input.byteOffset, input.length);
  for (let i = 0; i < input.length; i++) {
    const bits = inputBits[i];
    if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) output[i] = ((bits >>> 16) & 0x8000) | 0x7fc0;
    else output[i] = (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
  }
  return output;
}

/** f16 bits → bf16 bits (through f32; rounds to nearest even where bf16 has fewer mantissa bits). */
export function float16BitsToBfloat16Bits(input: Uint16Array, output = new Uint16Array(input.length)): Uint16Array {
  const table = float16ToFloat32Table();
  const tableBits = new Uint32Array(table.buffer);
  for (let i = 0; i < input.length; i++) {
    const bits = tableBits[input[i]];
    if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) output[i] = ((bits >>> 16) & 0x8000) | 0x7fc0;
    else output[i] = (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
  }
  return output;
}

/** One f32 bit pattern → f16 bits, rounding to nearest even; overflow gives ±infinity. */
export function float32BitsToFloat16Bits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // Subnormal in f16 (or zero): shift the full 24-bit significand down to units of 2^-24.
    const shift = 14 - halfExponent;
    if (shift > 25) return sign;
    const significand = mantissa | 0x800000;
    let result = significand >>> shift;
    const remainder = significand & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (remainder > half || (remainder === half && result & 1)) result++;
    return sign | result;
  }
  let result = (halfExponent << 10) | (mantissa >>> 13);
  const remainder = mantissa & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (and reaches infinity at the top).
  if (remainder > 0x1000 || (remainder === 0x1000 && result & 1)) result++;
  return sign | result;
}

const scratchFloat = new Float32Array(1);
const scratchBits = new Uint32Array(scratchFloat.buffer);

/** One number → f16 bits: rounded to f32 first, then to f16, nearest even (GGML_FP32_TO_FP16 on a float). */
export function float16BitsOf(value: number): number {
  scratchFloat[0] = value;
  return float32BitsToFloat16Bits(scratchBits[0]);
}

/** f32 values → f16 bits (round to nearest even). */
export function float32ToFloat16Bits(input: Float32Array, output = new Uint16Array(input.length)): Uint16Array {
  const inputBits = new Uint32Array(input.buffer, input.byteOffset, input.length);
  for (let i = 0; i < input.length; i++) output[i] = float32BitsToFloat16Bits(inputBits[i]);
  return output;
}
