// The BF16 dot-product GEMM micro-kernel and its packing, for bf16 weights on CPUs with AVX512-BF16
// (vdpbf16ps: each f32 lane gains a[2i]·b[2i] + a[2i+1]·b[2i+1] from bf16 pairs, twice the
// multiply-adds of an f32 FMA per instruction). Included by isa/avx512_bf16.cc only, with
// PILLOW_ISA_NAMESPACE set; elsewhere the GEMM widens bf16 weights to f32 (kernels/gemm_kernel.h).
//
// Packed layouts (a "pair" is two consecutive k steps, one 32-bit word of two bf16):
//   A: dst[q·MR + r] = pair(x[r, 2q], x[r, 2q+1]), x rounded to bf16 (nearest-even, as oneDNN and
//      llama.cpp round activations for their bf16 dot products)
//   B: dst[q·NR + j] = pair(w[j, 2q], w[j, 2q+1]) — w's rows are already bf16, so packing B is a
//      32-bit transpose of NR rows
// The tile: MR = 8 rows x NR = 32 columns (16 zmm accumulators, two B vectors, one broadcast).
#pragma once
#include <cstdint>
#include <cstring>

#if defined(__AVX512BF16__)
#include <immintrin.h>
#endif

#include "ops/common/bf16.h"

namespace PILLOW_ISA_NAMESPACE {

inline constexpr int kBf16Rows = 8;
inline constexpr int kBf16Columns = 32;

#if defined(__AVX512BF16__)

// The tile loop for the first ROWS rows of the packed A panel (a_packed keeps its MR stride):
// c[r·ldc + j] (+)= Σ_q Σ_{i<2} a(r, 2q+i)·b(j, 2q+i), for r < rows, j < cols.
template <int ROWS>
inline void bf16_micro_rows(float* c, int64_t ldc, const uint32_t* a_packed, const uint32_t* b_packed, int64_t pairs,
                            int rows, int cols, bool accumulate) {
  __m512 acc[ROWS][2];
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t q = 0; q < pairs; ++q) {
    const __m512bh b0 = reinterpret_cast<__m512bh>(_mm512_loadu_si512(b_packed));
    const __m512bh b1 = reinterpret_cast<__m512bh>(_mm512_loadu_si512(b_packed + 16));
    __builtin_prefetch(b_packed + 8 * kBf16Columns);  // the panel streams from L2 at kc > 256 pairs
#pragma GCC unroll 8
    for (int r = 0; r < ROWS; ++r) {
      const __m512bh a = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(a_packed[r])));
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], a, b0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], a, b1);
    }
    a_packed += kBf16Rows;
    b_packed += kBf16Columns;
  }
  if (rows == ROWS && cols == kBf16Columns) {
#pragma GCC unroll 8
    for (int r = 0; r < ROWS; ++r) {
      float* dst = c + r * ldc;
      if (accumulate) {
        acc[r][0] = _mm512_add_ps(acc[r][0], _mm512_loadu_ps(dst));
        acc[r][1] = _mm512_add_ps(acc[r][1], _mm512_loadu_ps(dst + 16));
      }
      _mm512_storeu_ps(dst, acc[r][0]);
      _mm512_storeu_ps(dst + 16, acc[r][1]);
    }
    return;
  }
  // Edge tile: spill to a buffer and copy the valid part.
  float tile[ROWS][kBf16Columns];
  for (int r = 0; r < ROWS; ++r) {
    _mm512_storeu_ps(&tile[r][0], acc[r][0]);
    _mm512_storeu_ps(&tile[r][16], acc[r][1]);
  }
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < cols; ++j) c[r * ldc + j] = accumulate ? c[r * ldc + j] + tile[r][j] : tile[r][j];
}

// A tile of at most MR/2 rows (the last one of an M that is not a multiple of 8) runs a
// half-height loop instead of multiplying zero rows.
inline void bf16_gemm_micro(float* c, int64_t ldc, const uint32_t* a_packed, const uint32_t* b_packed, int64_t pairs,
                            int rows, int cols, bool accumulate) {
  if (rows <= kBf16Rows / 2) {
    bf16_micro_rows<kBf16Rows / 2>(c, ldc, a_packed, b_packed, pairs, rows, cols, accumulate);
  } else {
    bf16_micro_rows<kBf16Rows>(c, ldc, a_packed, b_packed, pairs, rows, cols, accumulate);
  }
}

// Packs rows [0, rows) (rows <= MR; the rest zero) of f32 x, k steps [0, k_valid), into the A
// layout of `pairs` >= ⌈k_valid/2⌉ pairs (a half pair at k_valid and the pairs after it are zero).
// Each row is rounded to bf16 16 values at a time (vcvtneps2bf16: nearest-even, as f32_to_bf16),
// then its pairs are scattered to their slots.
inline void bf16_pack_a(uint32_t* dst, const float* x, int64_t row_stride, int rows, int64_t k_valid, int64_t pairs) {
  for (int r = rows; r < kBf16Rows; ++r)
    for (int64_t q = 0; q < pairs; ++q) dst[q * kBf16Rows + r] = 0;
  for (int r = 0; r < rows; ++r)
    for (int64_t q = (k_valid + 1) / 2; q < pairs; ++q) dst[q * kBf16Rows + r] = 0;
  for (int r = 0; r < rows; ++r) {
    const float* src = x + r * row_stride;
    uint32_t* out = dst + r;
    int64_t k = 0;
    for (; k + 16 <= k_valid; k += 16) {
      const __m256bh narrow = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + k));
      uint32_t words[8];
      std::memcpy(words, &narrow, sizeof(words));
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) out[(k / 2 + i) * kBf16Rows] = words[i];
    }
    for (; k < k_valid; k += 2) {
      const uint32_t low = pillow::f32_to_bf16(src[k]);
      const uint32_t high = k + 1 < k_valid ? pillow::f32_to_bf16(src[k + 1]) : 0u;
      out[(k / 2) * kBf16Rows] = low | (high << 16);
    }
  }
}

// Packs NR-wide panel columns [0, cols) (the rest zero) of bf16 w (rows k-contiguous, row_stride
// in bf16 elements), k steps [0, k_valid) from w, into the B layout dst[q·NR + j] of `pairs` >=
// ⌈k_valid/2⌉ pairs (the rest zero). Full panels with whole pairs go 8 rows x 8 pairs at a time
// through an in-register transpose of 32-bit words.
inline void bf16_pack_b(uint32_t* dst, const uint16_t* w, int64_t row_stride, int cols, int64_t k_valid, int64_t pairs) {
  int64_t q = 0;
  if (cols == kBf16Columns && row_stride % 2 == 0 && reinterpret_cast<uintptr_t>(w) % 4 == 0) {
    const int64_t word_stride = row_stride / 2;
    for (; q + 8 <= k_valid / 2; q += 8) {
      for (int g = 0; g < kBf16Columns; g += 8) {
        const char* base = reinterpret_cast<const char*>(w + g * row_stride + 2 * q);
        __m256 r[8];
        for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(reinterpret_cast<const float*>(base + 4 * i * word_stride));
        // 8x8 transpose (bit moves only: no value is ever interpreted as a float).
        const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
        const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
        const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
        const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
        const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
        const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
        const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
        const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
        const __m256 columns[8] = {
            _mm256_permute2f128_ps(u0, u4, 0x20), _mm256_permute2f128_ps(u1, u5, 0x20),
            _mm256_permute2f128_ps(u2, u6, 0x20), _mm256_permute2f128_ps(u3, u7, 0x20),
            _mm256_permute2f128_ps(u0, u4, 0x31), _mm256_permute2f128_ps(u1, u5, 0x31),
            _mm256_permute2f128_ps(u2, u6, 0x31), _mm256_permute2f128_ps(u3, u7, 0x31)};
        for (int i = 0; i < 8; ++i) _mm256_storeu_ps(reinterpret_cast<float*>(dst + (q + i) * kBf16Columns + g), columns[i]);
      }
    }
  }
  for (; q < pairs; ++q) {
    for (int j = 0; j < kBf16Columns; ++j) {
      uint32_t word = 0;
      if (j < cols && 2 * q < k_valid) {
        const uint16_t* row = w + j * row_stride;
        word = row[2 * q];
        if (2 * q + 1 < k_valid) word |= static_cast<uint32_t>(row[2 * q + 1]) << 16;
      }
      dst[q * kBf16Columns + j] = word;
    }
  }
}

#endif  // __AVX512BF16__

}  // namespace PILLOW_ISA_NAMESPACE
