// IEEE half (binary16) <-> float32 on the CPU, every case (subnormals, inf, NaN): the scales of
// llama.cpp's Q8_0 blocks. half → float is exact; float → half rounds to nearest, ties to even
// (what F16C's vcvtps2ph with imm 0, and so ggml's FP32_TO_FP16 on x86, does).
#pragma once
#include <cstdint>
#include <cstring>

namespace pillow {

inline float f16_to_f32(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1f;
  uint32_t mantissa = bits & 0x3ff;
  uint32_t result;
  if (exponent == 0x1f) {
    result = sign | 0x7f800000 | (mantissa << 13);
  } else if (exponent == 0) {
    if (mantissa == 0) {
      result = sign;
    } else {
      // Subnormal: shift until the implicit bit appears.
      int shift = 0;
      while ((mantissa & 0x400) == 0) {
        mantissa <<= 1;
        ++shift;
      }
      mantissa &= 0x3ff;
      result = sign | (static_cast<uint32_t>(113 - shift) << 23) | (mantissa << 13);
    }
  } else {
    result = sign | ((exponent + 112) << 23) | (mantissa << 13);
  }
  float value;
  std::memcpy(&value, &result, sizeof value);
  return value;
}

inline uint16_t f32_to_f16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000);
  const uint32_t magnitude = bits & 0x7fffffff;
  if (magnitude > 0x7f800000) return static_cast<uint16_t>(sign | 0x7e00 | ((magnitude >> 13) & 0x3ff));  // NaN stays NaN
  if (magnitude >= 0x477ff000) return static_cast<uint16_t>(sign | 0x7c00);  // >= 65520 (and inf): inf
  if (magnitude >= 0x38800000) {
    // Normal half: drop 13 mantissa bits, rounding half to even; a carry runs into the exponent.
    const uint32_t rounded = magnitude + 0x0fff + ((magnitude >> 13) & 1);
    return static_cast<uint16_t>(sign | ((rounded >> 13) - (112u << 10)));
  }
  // Below 2^-14: a subnormal half, in units of 2^-24 (or zero).
  const uint32_t exponent = magnitude >> 23;
  if (exponent < 102) return sign;  // below 2^-25: rounds to zero
  const uint32_t mantissa = (magnitude & 0x7fffff) | 0x800000;
  const uint32_t shift = 126 - exponent;  // 14..24
  uint32_t units = mantissa >> shift;
  const uint32_t rest = mantissa & ((1u << shift) - 1), half = 1u << (shift - 1);
  if (rest > half || (rest == half && (units & 1))) ++units;
  return static_cast<uint16_t>(sign | units);
}

}  // namespace pillow
