// bfloat16 weights: a Bf16Array is a Uint16Array of raw bf16 bit patterns, tagged as such so a
// kernel never mistakes f16 or integer data for bf16. Conversions round to nearest-even, as
// PyTorch's `tensor.to(torch.bfloat16)` does; NaN stays NaN.

const BF16_TAG = Symbol.for("@pillow/lora-kernels.Bf16Array");

/** A Uint16Array whose elements are raw bf16 bits (the upper half of an IEEE-754 float32). */
export class Bf16Array extends Uint16Array {
  get [BF16_TAG](): true {
    return true;
  }
}

/** True for a Bf16Array, also one made by another copy of this package. */
export function isBf16Array(value: unknown): value is Bf16Array {
  return value instanceof Uint16Array && (value as unknown as Record<symbol, unknown>)[BF16_TAG] === true;
}

/** Tags raw bf16 bits (e.g. read from a safetensors file) as a Bf16Array, sharing their memory. */
export function bf16(bits: Uint16Array): Bf16Array {
  if (!(bits instanceof Uint16Array)) throw new TypeError("bf16() takes a Uint16Array of raw bf16 bits");
  return new Bf16Array(bits.buffer as ArrayBuffer, bits.byteOffset, bits.length);
}

/** Rounds float32 values to bf16 (nearest, ties to even). */
export function toBf16(values: Float32Array | ArrayLike<number>): Bf16Array {
  const floats = values instanceof Float32Array ? values : Float32Array.from(values);
  const words = new Uint32Array(floats.buffer, floats.byteOffset, floats.length);
  const out = new Bf16Array(floats.length);
  for (let i = 0; i < words.length; i++) {
    const bits = words[i];
    if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x007fffff) !== 0) {
      out[i] = (bits >>> 16) | 0x0040; // quiet NaN
    } else {
      out[i] = (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
    }
  }
  return out;
}

/** Widens bf16 bits to float32 (exact). */
export function fromBf16(values: Uint16Array): Float32Array {
  const words = new Uint32Array(values.length);
  for (let i = 0; i < values.length; i++) words[i] = values[i] << 16;
  return new Float32Array(words.buffer);
}
