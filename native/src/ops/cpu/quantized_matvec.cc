// Q8_0 matrix-vector product (see quantized_matvec.h). One row per task: per block, the 32 int8 codes
// are widened to f32 and multiplied with x's 32 values, the block's sum scaled by its d and added
// to the row's sum. The AVX-512 and AVX2 paths keep 16 / 8 such partial sums per lane and add them
// once at the end of the row; the portable path is the plain loop (and the numerics reference).
#include "ops/cpu/quantized_matvec.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "ops/common/weight_view.h"
#include "runtime/cpu_features.h"
#include "runtime/errors.h"
#include "runtime/thread_pool.h"

namespace pillow {

namespace {

constexpr int64_t kBlock = kQ8_0BlockValues;
constexpr int64_t kBlockBytes = kQ8_0BlockBytes;

// IEEE half → float, all cases (subnormals, inf, NaN); the portable path's scale.
float half_to_float(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000) << 16;
  uint32_t exponent = (bits >> 10) & 0x1f;
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

uint16_t block_scale_bits(const uint8_t* block) { return static_cast<uint16_t>(block[0] | (block[1] << 8)); }

// One row: blocks = columns / 32.
float row_portable(const uint8_t* row, const float* x, int64_t blocks) {
  float sum = 0.0f;
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* block = row + b * kBlockBytes;
    const int8_t* codes = reinterpret_cast<const int8_t*>(block + 2);
    float dot = 0.0f;
    for (int64_t j = 0; j < kBlock; ++j) dot += static_cast<float>(codes[j]) * x[b * kBlock + j];
    sum += half_to_float(block_scale_bits(block)) * dot;
  }
  return sum;
}

__attribute__((target("avx2,fma,f16c"))) float row_avx2(const uint8_t* row, const float* x, int64_t blocks) {
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* block = row + b * kBlockBytes;
    const float* xb = x + b * kBlock;
    __m256 dot = _mm256_setzero_ps();
    for (int part = 0; part < 4; ++part) {
      // 8 codes → 8 int32 → 8 floats.
      const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(block + 2 + 8 * part));
      const __m256 codes = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes));
      dot = _mm256_fmadd_ps(codes, _mm256_loadu_ps(xb + 8 * part), dot);
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(block_scale_bits(block))), dot, acc);
  }
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
  sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
  return _mm_cvtss_f32(sum);
}

// GCC 12 flags its own AVX-512 intrinsics' undefined placeholder vectors as (maybe) uninitialized.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
__attribute__((target("avx512f,f16c"))) float row_avx512(const uint8_t* row, const float* x, int64_t blocks) {
  __m512 acc = _mm512_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* block = row + b * kBlockBytes;
    const float* xb = x + b * kBlock;
    // 16 codes → 16 int32 → 16 floats, twice.
    const __m512 low = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 2))));
    const __m512 high = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 18))));
    const __m512 dot = _mm512_fmadd_ps(high, _mm512_loadu_ps(xb + 16), _mm512_mul_ps(low, _mm512_loadu_ps(xb)));
    acc = _mm512_fmadd_ps(_mm512_set1_ps(_cvtsh_ss(block_scale_bits(block))), dot, acc);
  }
  return _mm512_reduce_add_ps(acc);
}

constexpr int64_t kPrefetchBytes = 32 * kBlockBytes;

// row_avx512 over four rows row_bytes apart at once, each row's sums in the same order (the same
// results, bit for bit): x's block is loaded once for the four, and the four chains of
// accumulations are independent, so one row's FMA latency no longer paces the loop.

__attribute__((target("avx512f,f16c"))) void four_rows_avx512(float* out, const uint8_t* rows, int64_t row_bytes,
                                                              const float* x, int64_t blocks) {
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  for (int64_t b = 0; b < blocks; ++b) {
    const __m512 x_low = _mm512_loadu_ps(x + b * kBlock);
    const __m512 x_high = _mm512_loadu_ps(x + b * kBlock + 16);
    for (int i = 0; i < 4; ++i) {
      const uint8_t* block = rows + i * row_bytes + b * kBlockBytes;
      // The loads of the four streams stalled on memory (most of this loop's samples in a 134M
      // decode): fetch kPrefetchBytes ahead so the misses overlap (16 or 32 blocks ahead measured alike,
      // 8 a little slower). Never faults, even past the end.
      _mm_prefetch(reinterpret_cast<const char*>(block + kPrefetchBytes), _MM_HINT_T0);
      const __m512 low = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 2))));
      const __m512 high = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 18))));
      const __m512 dot = _mm512_fmadd_ps(high, x_high, _mm512_mul_ps(low, x_low));
      acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(_cvtsh_ss(block_scale_bits(block))), dot, acc[i]);
    }
  }
  for (int i = 0; i < 4; ++i) out[i] = _mm512_reduce_add_ps(acc[i]);
}
#pragma GCC diagnostic pop

using RowKernel = float (*)(const uint8_t*, const float*, int64_t);

RowKernel selected_row_kernel() {
  const CpuIsa isa = selected_isa();
  const CpuFeatures& features = cpu_features();
  return isa == CpuIsa::Avx512 && features.f16c ? row_avx512 : isa >= CpuIsa::Avx2 && features.f16c ? row_avx2 : row_portable;
}

}  // namespace

void q8_0_gemv_rows(float* y, int64_t ldy, const float* x, int64_t ldx, const uint8_t* w, int64_t columns,
                    int64_t row_begin, int64_t row_end, int tokens, bool accumulate) {
  const RowKernel row = selected_row_kernel();
  const int64_t blocks = columns / kBlock;
  const int64_t row_bytes = blocks * kBlockBytes;
  int64_t r = row_begin;
  if (row == row_avx512) {
    // Four rows at a time, tokens inner: the rows' blocks are read from memory once and stay in L1
    // for the other tokens.
    for (; r + 4 <= row_end; r += 4) {
      for (int t = 0; t < tokens; ++t) {
        float values[4];
        four_rows_avx512(values, w + r * row_bytes, row_bytes, x + t * ldx, blocks);
        for (int i = 0; i < 4; ++i) {
          float& out = y[t * ldy + r + i];
          out = accumulate ? out + values[i] : values[i];
        }
      }
    }
  }
  // Rows outer, tokens inner, as above.
  for (; r < row_end; ++r) {
    for (int t = 0; t < tokens; ++t) {
      const float value = row(w + r * row_bytes, x + t * ldx, blocks);
      float& out = y[t * ldy + r];
      out = accumulate ? out + value : value;
    }
  }
}

float q8_0_value(const uint8_t* w, int64_t flat_index) {
  const uint8_t* block = w + flat_index / kBlock * kBlockBytes;
  return static_cast<float>(reinterpret_cast<const int8_t*>(block + 2)[flat_index % kBlock]) *
         half_to_float(block_scale_bits(block));
}

void q8_0_dequantize_blocks(float* out, const uint8_t* blocks_data, int64_t blocks) {
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* block = blocks_data + b * kBlockBytes;
    const float d = half_to_float(block_scale_bits(block));
    const int8_t* codes = reinterpret_cast<const int8_t*>(block + 2);
    for (int64_t j = 0; j < kBlock; ++j) out[b * kBlock + j] = static_cast<float>(codes[j]) * d;
  }
}

void q8_0_dequantize_range(float* out, const uint8_t* w, int64_t flat_begin, int64_t count) {
  for (int64_t done = 0; done < count;) {
    const int64_t flat = flat_begin + done;
    const int64_t within = flat % kBlock;
    const int64_t take = std::min<int64_t>(kBlock - within, count - done);
    const uint8_t* block = w + flat / kBlock * kBlockBytes;
    const float d = half_to_float(block_scale_bits(block));
    const int8_t* codes = reinterpret_cast<const int8_t*>(block + 2) + within;
    for (int64_t j = 0; j < take; ++j) out[done + j] = static_cast<float>(codes[j]) * d;
    done += take;
  }
}

int64_t q8_0_matrix_bytes(const char* op, int64_t rows, int64_t columns) {
  if (rows < 1 || columns < 1 || columns % kBlock != 0) {
    throw_shape_error(std::string(op) + ": rows must be >= 1 and columns a positive multiple of 32 (got " +
                      std::to_string(rows) + ", " + std::to_string(columns) + ")");
  }
  const int64_t limit = int64_t{1} << 40;
  if (rows > limit / columns) throw_shape_error(std::string(op) + ": shape too large");
  return rows * (columns / kBlock) * kBlockBytes;
}

void quantized_matvec_q8_0(float* out, const float* x, const uint8_t* w, int64_t rows, int64_t columns) {
  q8_0_matrix_bytes("quantized_matvec_q8_0", rows, columns);
  if (out == nullptr || x == nullptr || w == nullptr) throw_argument_error("quantized_matvec_q8_0: out, x and w must not be null");
  // 16 rows per task: a few hundred KB of weights, enough to hide the pool's hand-off.
  parallel_for_dynamic(rows, 16, 64, [&](int64_t begin, int64_t end) {
    q8_0_gemv_rows(out, 0, x, 0, w, columns, begin, end, 1, false);
  });
}

}  // namespace pillow
