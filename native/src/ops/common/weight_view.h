// A frozen weight matrix W[out, in] (row-major) in f32, bf16 or Q8_0; the kernels compute in f32.
#pragma once
#include <cstdint>

namespace pillow {

// Q8_0: llama.cpp's block layout, each row in/32 blocks of { f16 scale d, int8 q[32] } (34 bytes),
// value j of a block = q[j]·d; in must be a multiple of 32. Only the CPU runs it.
enum class WeightType { F32 = 0, BF16 = 1, Q8_0 = 2 };

inline constexpr int64_t kQ8_0BlockValues = 32;
inline constexpr int64_t kQ8_0BlockBytes = 34;

// A Q8_0 block's f16 scale d, its first two bytes (little-endian).
inline uint16_t q8_0_scale_bits(const uint8_t* block) { return static_cast<uint16_t>(block[0] | (block[1] << 8)); }

// data points at out*in floats (F32), out*in raw bf16 bit patterns (uint16_t, BF16), or
// out*(in/32)*34 bytes of Q8_0 blocks (Q8_0; value (o, i) sits in block (o·in + i)/32, so any
// strided view of W in the GEMM finds its block from the flat index).
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
