// A frozen weight matrix W[out, in] (row-major) in f32 or bf16; the kernels compute in f32.
#pragma once
#include <cstdint>

namespace pillow {

enum class WeightType { F32 = 0, BF16 = 1 };

// data points at out*in floats (F32) or out*in raw bf16 bit patterns (uint16_t, BF16).
// packed_rows / packed_columns, when set, hold W already in the GEMM's packed B layout (see
// GemmOperand::prepacked) for x·Wᵀ (panels of output rows over all inputs) and for dy·W (panels of
// input columns over all outputs). A model fills them for frozen weights it trains adapters on, so
// no training step repacks (and, for dy·W, reads W down its columns) again.
struct WeightView {
  const void* data;
  WeightType type;
  const float* packed_rows = nullptr;
  const float* packed_columns = nullptr;
};

}  // namespace pillow
