// bfloat16 <-> float32, shared by the CPU kernels and the CUDA kernels. A bf16 value is the upper
// 16 bits of an IEEE-754 float32, so widening is a shift; narrowing rounds to nearest-even.
#pragma once
#include <cstdint>
#include <cstring>

#include "ops/common/host_device.h"

namespace pillow {

PILLOW_HOST_DEVICE float bf16_to_f32(uint16_t bits) {
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
#if defined(__CUDA_ARCH__)
  return __uint_as_float(wide);
#else
  float value;
  std::memcpy(&value, &wide, sizeof(value));
  return value;
#endif
}

// Round to nearest, ties to even; NaN stays NaN (quiet), infinities stay infinite.
PILLOW_HOST_DEVICE uint16_t f32_to_bf16(float value) {
#if defined(__CUDA_ARCH__)
  uint32_t bits = __float_as_uint(value);
#else
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
#endif
  if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0) {
    return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  }
  const uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

}  // namespace pillow
