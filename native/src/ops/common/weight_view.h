// A frozen weight matrix W[out, in] (row-major) in f32 or bf16; the kernels compute in f32.
#pragma once
#include <cstdint>

namespace pillow {

enum class WeightType { F32 = 0, BF16 = 1 };

// data points at out*in floats (F32) or out*in raw bf16 bit patterns (uint16_t, BF16).
// packed_rows / packed_columns, when set, hold W already in the GEMM's packed B layout (see
// GemmOperand::prepacked) for x·Wᵀ (panels of output rows over all inputs) and for dy·W (panels of
// input columns over all outputs), panels *_stride floats apart. A model fills them for frozen
// weights it trains adapters on, so no training step repacks W (for dy·W, reading it down its
// columns) again. *_lora, when set, is the room after W's k steps in those panels, holding the
// LoRA factor of the same product (B of x·Wᵀ + s·(x·Aᵀ)·Bᵀ, A of dy·W + g·A) in the same layout:
// the fused K blocks that span both are then read in place.
struct WeightView {
  const void* data;
  WeightType type;
  const float* packed_rows = nullptr;
  int64_t packed_rows_stride = 0;
  const float* packed_rows_lora = nullptr;
  const float* packed_columns = nullptr;
  int64_t packed_columns_stride = 0;
  const float* packed_columns_lora = nullptr;
};

}  // namespace pillow
