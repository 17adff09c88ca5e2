// Q8_0, Q4_0 and Q4_K products (see quantized_matvec.h): x's rounding to Q8_0 or Q8_K (once per
// call, on the calling thread: O(columns) against the product's O(rows·columns)), the decode rows
// through the dot-product kernels (kernels/q8_0_dot_kernel.h, q4_0_dot_kernel.h and
// q4_k_dot_kernel.h, chosen per CPU by q8_0_dot_kernel(), q4_0_dot_kernel() and q4_k_dot_kernel()),
// and the dequantization the GEMM's packing reads.
#include "ops/cpu/quantized_matvec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "ops/common/f16.h"
#include "ops/common/weight_view.h"
#include "ops/cpu/kernel_table.h"
#include "runtime/errors.h"
#include "runtime/thread_pool.h"

namespace pillow {

namespace {

// 32 values a block, in Q8_0 and Q4_0 alike.
constexpr int64_t kBlock = kQ8_0BlockValues;
static_assert(kQ4_0BlockValues == kQ8_0BlockValues);

// ggml's nearest_int: v rounded to the nearest integer, ties to even, for |v| < 2^22 (adding
// 1.5·2^23 leaves the integer in the f32's low mantissa bits, rounded as the addition rounds).
int32_t nearest_even(float v) {
  const float shifted = v + 12582912.0f;
  int32_t bits;
  std::memcpy(&bits, &shifted, sizeof(bits));
  return (bits & 0x007fffff) - 0x00400000;
}

// codes[32], *scale = x[32] in Q8_0 (q8_0_quantize_rows).
void quantize_block(int8_t* codes, float* scale, const float* x) {
  float largest = 0.0f;
  int non_finite = 0;
  for (int64_t j = 0; j < kBlock; ++j) {
    const float magnitude = std::fabs(x[j]);
    non_finite |= !(magnitude <= std::numeric_limits<float>::max());  // inf or NaN
    largest = std::max(largest, magnitude);
  }
  if (non_finite) {
    std::memset(codes, 0, kBlock);
    *scale = std::numeric_limits<float>::quiet_NaN();
    return;
  }
  // As llama.cpp's x86 and ARM SIMD quantize_row_q8_0 round x (the path its CPU backend runs):
  // x·(127/max), to the nearest code with ties to even. Its scalar reference computes x·(1/d) and
  // rounds ties away from zero; the two differ where x/d lies within an ulp of a half-code, which
  // a unit-norm model's first layer hits at every ±4 code of a Q4_0 embedding (x/d = code·127/8).
  // |x·inverse| <= 127 up to its last bit, so the code stays within [-127, 127].
  const float d = largest / 127.0f;
  const float inverse = largest != 0.0f ? 127.0f / largest : 0.0f;
  if (!(inverse <= std::numeric_limits<float>::max())) {
    // Every value below ~3.7e-37 in magnitude: 127/max overflows, and d rounds to an f16 0 anyway.
    std::memset(codes, 0, kBlock);
    *scale = 0.0f;
    return;
  }
  for (int64_t j = 0; j < kBlock; ++j) codes[j] = static_cast<int8_t>(nearest_even(x[j] * inverse));
  *scale = f16_to_f32(f32_to_f16(d));
}

// codes[256], *scale = x[256] in Q8_K (q8_k_quantize_rows).
void quantize_block_q8_k(int8_t* codes, float* scale, const float* x) {
  float largest = 0.0f;
  float signed_largest = 0.0f;
  int non_finite = 0;
  for (int64_t j = 0; j < kQ4_KBlockValues; ++j) {
    const float magnitude = std::fabs(x[j]);
    non_finite |= !(magnitude <= std::numeric_limits<float>::max());  // inf or NaN
    if (magnitude > largest) {
      largest = magnitude;
      signed_largest = x[j];
    }
  }
  if (non_finite || largest == 0.0f) {
    std::memset(codes, 0, kQ4_KBlockValues);
    *scale = non_finite ? std::numeric_limits<float>::quiet_NaN() : 0.0f;
    return;
  }
  // The value of largest magnitude maps to code −127 (so codes stay in [−127, 127]).
  const float inverse = -127.0f / signed_largest;
  if (!std::isfinite(inverse)) {
    // Every value below ~3.7e-37 in magnitude: −127/m overflows f32. ggml's scale would be 1/∞ = 0 (products 0) and
    // its codes undefined; here the block is the all-zero block it effectively is.
    std::memset(codes, 0, kQ4_KBlockValues);
    *scale = 0.0f;
    return;
  }
  for (int64_t j = 0; j < kQ4_KBlockValues; ++j) {
    codes[j] = static_cast<int8_t>(std::min<int32_t>(127, nearest_even(inverse * x[j])));
  }
  *scale = 1.0f / inverse;
}

// q8_0_gemv_rows, q4_0_gemv_rows and q4_k_gemv_rows: the rows through `dot`, W's blocks
// block_values values in block_bytes bytes (x's blocks as many values, one scale each).
void gemv_rows_with(Q8_0DotRows dot, int64_t block_values, int64_t block_bytes, float* y, int64_t ldy,
                    const int8_t* x_codes, const float* x_scales, const uint8_t* w, int64_t columns, int64_t row_begin,
                    int64_t row_end, int tokens, bool accumulate) {
  const int64_t blocks = columns / block_values;
  const int64_t row_bytes = blocks * block_bytes;
  // Four rows at a time, tokens inner: the rows' blocks are read from memory once and stay in L1
  // for the other tokens.
  for (int64_t r = row_begin; r < row_end; r += 4) {
    const int rows = static_cast<int>(std::min<int64_t>(4, row_end - r));
    for (int t = 0; t < tokens; ++t) {
      float values[4];
      dot(values, w + r * row_bytes, row_bytes, x_codes + t * columns, x_scales + t * blocks, blocks, rows);
      for (int i = 0; i < rows; ++i) {
        float& out = y[t * ldy + r + i];
        out = accumulate ? out + values[i] : values[i];
      }
    }
  }
}

// The bytes of a [rows, columns] matrix of `type`'s blocks, block_bytes each (the *_matrix_bytes checks).
int64_t matrix_bytes(const char* op, WeightType type, int64_t block_bytes, int64_t rows, int64_t columns) {
  const int64_t values = block_values(type);
  if (rows < 1 || columns < 1 || columns % values != 0) {
    throw_shape_error(std::string(op) + ": a " + weight_type_name(type) + " matrix needs rows >= 1 and columns a " +
                      "positive multiple of " + std::to_string(values) + " (got " + std::to_string(rows) + ", " +
                      std::to_string(columns) + ")");
  }
  const int64_t limit = int64_t{1} << 40;
  if (rows > limit / columns) throw_shape_error(std::string(op) + ": shape too large");
  return rows * (columns / values) * block_bytes;
}

// out[0, count) = the values at flat indices [flat_begin, flat_begin + count) of a matrix of blocks
// BlockBytes long, code(block, j) giving value j's code (q8_0_code, q4_0_code): code · d, as
// llama.cpp's dequantize_row_q8_0 / _q4_0.
template <int64_t BlockBytes, typename Code>
void dequantize_range_with(float* out, const uint8_t* w, int64_t flat_begin, int64_t count, Code code) {
  for (int64_t done = 0; done < count;) {
    const int64_t flat = flat_begin + done;
    const int64_t within = flat % kBlock;
    const int64_t take = std::min<int64_t>(kBlock - within, count - done);
    const uint8_t* block = w + flat / kBlock * BlockBytes;
    const float d = f16_to_f32(block_scale_bits(block));
    for (int64_t j = 0; j < take; ++j) out[done + j] = static_cast<float>(code(block, within + j)) * d;
    done += take;
  }
}

// out[rows] = W·x through `gemv_rows` (q8_0_gemv_rows, q4_0_gemv_rows or q4_k_gemv_rows), x rounded
// here by `quantize_rows` (q8_0_quantize_rows, or q8_k_quantize_rows for Q4_K) into blocks of
// x_block_values values.
template <typename QuantizeRows, typename GemvRows>
void matvec_with(QuantizeRows quantize_rows, int64_t x_block_values, GemvRows gemv_rows, const char* op, float* out,
                 const float* x, const uint8_t* w, int64_t rows, int64_t columns) {
  if (out == nullptr || x == nullptr || w == nullptr) throw_argument_error(std::string(op) + ": out, x and w must not be null");
  std::vector<int8_t> codes(static_cast<size_t>(columns));
  std::vector<float> scales(static_cast<size_t>(columns / x_block_values));
  quantize_rows(codes.data(), scales.data(), x, 1, columns);
  // 16 rows per task: a few hundred KB of weights, enough to hide the pool's hand-off.
  parallel_for_dynamic(rows, 16, 64, [&](int64_t begin, int64_t end) {
    gemv_rows(out, 0, codes.data(), scales.data(), w, columns, begin, end, 1, false);
  });
}

}  // namespace

void q8_0_quantize_rows(int8_t* codes, float* scales, const float* x, int64_t tokens, int64_t columns) {
  const int64_t blocks = tokens * (columns / kBlock);
  for (int64_t b = 0; b < blocks; ++b) quantize_block(codes + b * kBlock, scales + b, x + b * kBlock);
}

void q8_0_round_rows(float* out, const float* x, int64_t tokens, int64_t columns) {
  const int64_t blocks = tokens * (columns / kBlock);
  // Blocks are independent: threads over a prefill's rows (a 256 × 768 x is 6144 blocks).
  parallel_for(blocks, 512, [&](int64_t begin, int64_t end) {
    int8_t codes[kBlock];
    for (int64_t b = begin; b < end; ++b) {
      float scale;
      quantize_block(codes, &scale, x + b * kBlock);
      for (int64_t j = 0; j < kBlock; ++j) out[b * kBlock + j] = static_cast<float>(codes[j]) * scale;
    }
  });
}

void q8_0_gemv_rows(float* y, int64_t ldy, const int8_t* x_codes, const float* x_scales, const uint8_t* w,
                    int64_t columns, int64_t row_begin, int64_t row_end, int tokens, bool accumulate) {
  gemv_rows_with(q8_0_dot_kernel(), kBlock, kQ8_0BlockBytes, y, ldy, x_codes, x_scales, w, columns, row_begin, row_end, tokens,
                 accumulate);
}

void q4_0_gemv_rows(float* y, int64_t ldy, const int8_t* x_codes, const float* x_scales, const uint8_t* w,
                    int64_t columns, int64_t row_begin, int64_t row_end, int tokens, bool accumulate) {
  gemv_rows_with(q4_0_dot_kernel(), kBlock, kQ4_0BlockBytes, y, ldy, x_codes, x_scales, w, columns, row_begin, row_end, tokens,
                 accumulate);
}

float q8_0_value(const uint8_t* w, int64_t flat_index) {
  const uint8_t* block = w + flat_index / kBlock * kQ8_0BlockBytes;
  return static_cast<float>(q8_0_code(block, flat_index % kBlock)) * f16_to_f32(block_scale_bits(block));
}

void q8_0_dequantize_range(float* out, const uint8_t* w, int64_t flat_begin, int64_t count) {
  dequantize_range_with<kQ8_0BlockBytes>(out, w, flat_begin, count, q8_0_code);
}

int64_t q8_0_matrix_bytes(const char* op, int64_t rows, int64_t columns) {
  return matrix_bytes(op, WeightType::Q8_0, kQ8_0BlockBytes, rows, columns);
}

void quantized_matvec_q8_0(float* out, const float* x, const uint8_t* w, int64_t rows, int64_t columns) {
  q8_0_matrix_bytes("quantized_matvec_q8_0", rows, columns);
  matvec_with(q8_0_quantize_rows, kBlock, q8_0_gemv_rows, "quantized_matvec_q8_0", out, x, w, rows, columns);
}

float q4_0_value(const uint8_t* w, int64_t flat_index) {
  const uint8_t* block = w + flat_index / kBlock * kQ4_0BlockBytes;
  return static_cast<float>(q4_0_code(block, flat_index % kBlock)) * f16_to_f32(block_scale_bits(block));
}

void q4_0_dequantize_range(float* out, const uint8_t* w, int64_t flat_begin, int64_t count) {
  dequantize_range_with<kQ4_0BlockBytes>(out, w, flat_begin, count, q4_0_code);
}

int64_t q4_0_matrix_bytes(const char* op, int64_t rows, int64_t columns) {
  return matrix_bytes(op, WeightType::Q4_0, kQ4_0BlockBytes, rows, columns);
}

void quantized_matvec_q4_0(float* out, const float* x, const uint8_t* w, int64_t rows, int64_t columns) {
  q4_0_matrix_bytes("quantized_matvec_q4_0", rows, columns);
  matvec_with(q8_0_quantize_rows, kBlock, q4_0_gemv_rows, "quantized_matvec_q4_0", out, x, w, rows, columns);
}

void q8_k_quantize_rows(int8_t* codes, float* scales, const float* x, int64_t tokens, int64_t columns) {
  const int64_t blocks = tokens * (columns / kQ4_KBlockValues);
  for (int64_t b = 0; b < blocks; ++b) {
    quantize_block_q8_k(codes + b * kQ4_KBlockValues, scales + b, x + b * kQ4_KBlockValues);
  }
}

void q8_k_round_rows(float* out, const float* x, int64_t tokens, int64_t columns) {
  const int64_t blocks = tokens * (columns / kQ4_KBlockValues);
  parallel_for(blocks, 64, [&](int64_t begin, int64_t end) {
    int8_t codes[kQ4_KBlockValues];
    for (int64_t b = begin; b < end; ++b) {
      float scale;
      quantize_block_q8_k(codes, &scale, x + b * kQ4_KBlockValues);
      for (int64_t j = 0; j < kQ4_KBlockValues; ++j) {
        out[b * kQ4_KBlockValues + j] = static_cast<float>(codes[j]) * scale;
      }
    }
  });
}

void q4_k_gemv_rows(float* y, int64_t ldy, const int8_t* x_codes, const float* x_scales, const uint8_t* w,
                    int64_t columns, int64_t row_begin, int64_t row_end, int tokens, bool accumulate) {
  gemv_rows_with(q4_k_dot_kernel(), kQ4_KBlockValues, kQ4_KBlockBytes, y, ldy, x_codes, x_scales, w, columns,
                 row_begin, row_end, tokens, accumulate);
}

float q4_k_value(const uint8_t* w, int64_t flat_index) {
  float value;
  q4_k_dequantize_range(&value, w, flat_index, 1);
  return value;
}

void q4_k_dequantize_range(float* out, const uint8_t* w, int64_t flat_begin, int64_t count) {
  // One 32-value sub-block (or the part of it in range) at a time: its step d·sc and offset dmin·m
  // are exact in f32 (11-bit significands times 6-bit integers), so is step·q, and only the
  // difference rounds, as in ggml.
  for (int64_t done = 0; done < count;) {
    const int64_t flat = flat_begin + done;
    const uint8_t* block = w + flat / kQ4_KBlockValues * kQ4_KBlockBytes;
    const int64_t within = flat % kQ4_KBlockValues;
    const int64_t sub_block = within / kQ4_KSubBlockValues;
    const int64_t take = std::min<int64_t>(kQ4_KSubBlockValues - within % kQ4_KSubBlockValues, count - done);
    int32_t scale, min;
    q4_k_scale_and_min(block, static_cast<int>(sub_block), &scale, &min);
    const float step = f16_to_f32(block_scale_bits(block)) * static_cast<float>(scale);
    const float offset = f16_to_f32(block_scale_bits(block + 2)) * static_cast<float>(min);
    for (int64_t j = 0; j < take; ++j) {
      const float scaled = step * static_cast<float>(q4_k_code(block, within + j));
      out[done + j] = scaled - offset;
    }
    done += take;
  }
}

int64_t q4_k_matrix_bytes(const char* op, int64_t rows, int64_t columns) {
  return matrix_bytes(op, WeightType::Q4_K, kQ4_KBlockBytes, rows, columns);
}

void quantized_matvec_q4_k(float* out, const float* x, const uint8_t* w, int64_t rows, int64_t columns) {
  q4_k_matrix_bytes("quantized_matvec_q4_k", rows, columns);
  matvec_with(q8_k_quantize_rows, kQ4_KBlockValues, q4_k_gemv_rows, "quantized_matvec_q4_k", out, x, w, rows,
              columns);
}

float block_value(WeightType type, const uint8_t* w, int64_t flat_index) {
  if (type == WeightType::Q4_K) return q4_k_value(w, flat_index);
  return type == WeightType::Q4_0 ? q4_0_value(w, flat_index) : q8_0_value(w, flat_index);
}

void block_dequantize_range(WeightType type, float* out, const uint8_t* w, int64_t flat_begin, int64_t count) {
  if (type == WeightType::Q4_K) {
    q4_k_dequantize_range(out, w, flat_begin, count);
  } else if (type == WeightType::Q4_0) {
    q4_0_dequantize_range(out, w, flat_begin, count);
  } else {
    q8_0_dequantize_range(out, w, flat_begin, count);
  }
}

}  // namespace pillow
