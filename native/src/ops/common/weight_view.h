// A frozen weight matrix W[out, in] (row-major) in f32, bf16, Q8_0 or Q4_0; the kernels compute in f32.
#pragma once
#include <cstdint>

namespace pillow {

// llama.cpp's block layouts, each row in/32 blocks of 32 values; in must be a multiple of 32, and
// only the CPU runs them.
//   Q8_0: { f16 scale d, int8 q[32] } (34 bytes), value j = q[j]·d.
//   Q4_0: { f16 scale d, uint8 qs[16] } (18 bytes), value j = ((qs[j] & 0x0F) − 8)·d and value
//         j + 16 = ((qs[j] >> 4) − 8)·d for j < 16: signed 4-bit codes −8..7.
enum class WeightType { F32 = 0, BF16 = 1, Q8_0 = 2, Q4_0 = 3 };

inline constexpr int64_t kQ8_0BlockValues = 32;
inline constexpr int64_t kQ8_0BlockBytes = 34;
inline constexpr int64_t kQ4_0BlockValues = 32;
inline constexpr int64_t kQ4_0BlockBytes = 18;

// The types kept as llama.cpp's blocks: products with them round x to Q8_0 (quantized_matvec.h).
inline bool is_block_quantized(WeightType type) { return type == WeightType::Q8_0 || type == WeightType::Q4_0; }

// The type's name as the API spells it ("f32", "bf16", "q8_0", "q4_0"), for error messages.
inline const char* weight_type_name(WeightType type) {
  switch (type) {
    case WeightType::F32: return "f32";
    case WeightType::BF16: return "bf16";
    case WeightType::Q8_0: return "q8_0";
    case WeightType::Q4_0: return "q4_0";
  }
  return "unknown";
}

// A Q8_0 or Q4_0 block's f16 scale d: both blocks begin with it (two bytes, little-endian).
inline uint16_t block_scale_bits(const uint8_t* block) { return static_cast<uint16_t>(block[0] | (block[1] << 8)); }

// Value j's code (0 <= j < 32) of a block, in value order: Q8_0 stores int8 codes after the scale;
// Q4_0 stores nibbles, values 0..15 the low nibbles of qs[0..15] and 16..31 their high nibbles, each
// code the nibble − 8. Value j of the block = code · d.
inline int32_t q8_0_code(const uint8_t* block, int64_t j) { return reinterpret_cast<const int8_t*>(block + 2)[j]; }
inline int32_t q4_0_code(const uint8_t* block, int64_t j) {
  const uint8_t* packed = block + 2;
  return (j < kQ4_0BlockValues / 2 ? packed[j] & 0x0F : packed[j - kQ4_0BlockValues / 2] >> 4) - 8;
}

// data points at out*in floats (F32), out*in raw bf16 bit patterns (uint16_t, BF16), or
// out*(in/32) blocks of Q8_0 (34 bytes) or Q4_0 (18 bytes) (value (o, i) sits in block
// (o·in + i)/32, so any strided view of W in the GEMM finds its block from the flat index).
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
