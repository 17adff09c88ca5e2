// A frozen weight matrix W[out, in] (row-major) in f32 or bf16; the kernels compute in f32.
#pragma once
#include <cstdint>

namespace pillow {

enum class WeightType { F32 = 0, BF16 = 1 };

// data points at out*in floats (F32) or out*in raw bf16 bit patterns (uint16_t, BF16).
struct WeightView {
  const void* data;
  WeightType type;
};

}  // namespace pillow
