// An 8-lane float vector from GCC/Clang vector extensions. Compiled in each ISA translation unit,
// it becomes one ymm register under -mavx2, half a zmm under -mavx512f, two xmm under SSE2.
#pragma once
#include <cstring>

namespace PILLOW_ISA_NAMESPACE {

typedef float float8 __attribute__((vector_size(32)));

inline float8 load8(const float* p) {
  float8 v;
  std::memcpy(&v, p, sizeof(v));  // unaligned load
  return v;
}

inline float8 broadcast8(float value) { return float8{value, value, value, value, value, value, value, value}; }

inline float sum8(float8 v) {
  return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

}  // namespace PILLOW_ISA_NAMESPACE
