// A frozen weight matrix W[out, in] (row-major) in f32, bf16, Q8_0, Q4_0 or Q4_K; the kernels compute in f32.
#pragma once
#include <cstdint>
#include <cstring>

namespace pillow {

// llama.cpp's block layouts, each row in/32 blocks of 32 values; in must be a multiple of 32, and
// only the CPU runs them.
//   Q8_0: { f16 scale d, int8 q[32] } (34 bytes), value j = q[j]·d.
//   Q4_0: { f16 scale d, uint8 qs[16] } (18 bytes), value j = ((qs[j] & 0x0F) − 8)·d and value
//         j + 16 = ((qs[j] >> 4) − 8)·d for j < 16: signed 4-bit codes −8..7.
// Q4_K rows are in/256 super-blocks of 256 values (in a multiple of 256):
//   Q4_K: { f16 d, f16 dmin, uint8 scales[12], uint8 qs[128] } (144 bytes): eight sub-blocks of 32
//         values, sub-block j with a 6-bit scale sc_j and 6-bit min m_j (q4_k_scale_and_min), value
//         = (d·sc_j)·q − (dmin·m_j) for its 4-bit code q (q4_k_code).
enum class WeightType { F32 = 0, BF16 = 1, Q8_0 = 2, Q4_0 = 3, Q4_K = 4 };

inline constexpr int64_t kQ8_0BlockValues = 32;
inline constexpr int64_t kQ8_0BlockBytes = 34;
inline constexpr int64_t kQ4_0BlockValues = 32;
inline constexpr int64_t kQ4_0BlockBytes = 18;
inline constexpr int64_t kQ4_KBlockValues = 256;
inline constexpr int64_t kQ4_KBlockBytes = 144;
inline constexpr int64_t kQ4_KSubBlockValues = 32;

// The types kept as llama.cpp's blocks: products with them round x to Q8_0, or to Q8_K for Q4_K
// (quantized_matvec.h).
inline bool is_block_quantized(WeightType type) {
  return type == WeightType::Q8_0 || type == WeightType::Q4_0 || type == WeightType::Q4_K;
}

// How products with a weight of a type round x, as llama.cpp's CPU backend does (ggml's
// vec_dot_type): not at all for f32 and bf16, to Q8_0 blocks for Q8_0 and Q4_0, to Q8_K (256 values,
// one f32 scale) for Q4_K.
enum class InputRounding { None, Q8_0, Q8_K };
inline InputRounding input_rounding(WeightType type) {
  if (type == WeightType::Q4_K) return InputRounding::Q8_K;
  return type == WeightType::Q8_0 || type == WeightType::Q4_0 ? InputRounding::Q8_0 : InputRounding::None;
}

// Values per block of a block type (32, or 256 for Q4_K): a row of W holds whole blocks.
inline int64_t block_values(WeightType type) { return type == WeightType::Q4_K ? kQ4_KBlockValues : kQ8_0BlockValues; }

// The type's name as the API spells it ("f32", "bf16", "q8_0", "q4_0"), for error messages.
inline const char* weight_type_name(WeightType type) {
  switch (type) {
    case WeightType::F32: return "f32";
    case WeightType::BF16: return "bf16";
    case WeightType::Q8_0: return "q8_0";
    case WeightType::Q4_0: return "q4_0";
    case WeightType::Q4_K: return "q4_k";
  }
  return "unknown";
}

// A Q8_0 or Q4_0 block's f16 scale d: both blocks begin with it (two bytes, little-endian); a Q4_K
// super-block's d, and at block + 2 its dmin.
inline uint16_t block_scale_bits(const uint8_t* block) { return static_cast<uint16_t>(block[0] | (block[1] << 8)); }

// Value j's code (0 <= j < 32) of a block, in value order: Q8_0 stores int8 codes after the scale;
// Q4_0 stores nibbles, values 0..15 the low nibbles of qs[0..15] and 16..31 their high nibbles, each
// code the nibble − 8. Value j of the block = code · d.
inline int32_t q8_0_code(const uint8_t* block, int64_t j) { return reinterpret_cast<const int8_t*>(block + 2)[j]; }
inline int32_t q4_0_code(const uint8_t* block, int64_t j) {
  const uint8_t* packed = block + 2;
  return (j < kQ4_0BlockValues / 2 ? packed[j] & 0x0F : packed[j - kQ4_0BlockValues / 2] >> 4) - 8;
}

// Sub-block j's (0 <= j < 8) 6-bit scale and min of a Q4_K super-block (ggml's get_scale_min_k4):
// scales[0..3] hold sc_0..3 in their low 6 bits and sc_4..7's bits 4-5 on top, scales[4..7] the same
// for the mins, scales[8..11] sc_4..7's low 4 bits under m_4..7's.
inline void q4_k_scale_and_min(const uint8_t* block, int j, int32_t* scale, int32_t* min) {
  const uint8_t* scales = block + 4;
  if (j < 4) {
    *scale = scales[j] & 63;
    *min = scales[j + 4] & 63;
  } else {
    *scale = (scales[j + 4] & 0x0F) | ((scales[j - 4] >> 6) << 4);
    *min = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4);
  }
}

// All eight scales and mins of a Q4_K super-block at once (q4_k_scale_and_min for j = 0..7, four
// bytes at a time), the kernels' form without a branch per sub-block: words[0..1] hold scales 0..7,
// one byte each in order (little-endian), words[2..3] mins 0..7.
inline void q4_k_scale_and_min_words(const uint8_t* block, uint32_t words[4]) {
  uint32_t packed[3];
  std::memcpy(packed, block + 4, sizeof(packed));
  const uint32_t six = 0x3f3f3f3f, four = 0x0f0f0f0f, two = 0x03030303;
  words[0] = packed[0] & six;                                             // scales 0..3
  words[1] = (packed[2] & four) | (((packed[0] >> 6) & two) << 4);        // scales 4..7
  words[2] = packed[1] & six;                                             // mins 0..3
  words[3] = ((packed[2] >> 4) & four) | (((packed[1] >> 6) & two) << 4);  // mins 4..7
}

// q4_k_scale_and_min_words as bytes: scales[j], mins[j] for j = 0..7.
inline void q4_k_scales_and_mins(const uint8_t* block, uint8_t scales[8], uint8_t mins[8]) {
  uint32_t words[4];
  q4_k_scale_and_min_words(block, words);
  std::memcpy(scales, words, 8);
  std::memcpy(mins, words + 2, 8);
}

// Value j's 4-bit code (0 <= j < 256) of a Q4_K super-block: values 64r..64r+31 are the low nibbles
// of qs[32r..32r+31], values 64r+32..64r+63 their high nibbles.
inline int32_t q4_k_code(const uint8_t* block, int64_t j) {
  const uint8_t packed = block[16 + 32 * (j / 64) + j % 32];
  return j % 64 < 32 ? packed & 0x0F : packed >> 4;
}

// data points at out*in floats (F32), out*in raw bf16 bit patterns (uint16_t, BF16), or
// out*(in/32) blocks of Q8_0 (34 bytes) or Q4_0 (18 bytes), or out*(in/256) of Q4_K (144 bytes)
// (value (o, i) sits in block (o·in + i)/32, or /256, so any strided view of W in the GEMM finds its
// block from the flat index).
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
