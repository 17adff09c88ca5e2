// The GEMM micro-kernel: one MR x NR register tile of C from packed panels (BLIS style).
// a_packed holds k steps of MR values (one per row of the tile), b_packed k steps of NR values
// (one per column), both written by ops/cpu/gemm.cc's packing. Included by each isa/*.cc with
// PILLOW_ISA_NAMESPACE set; the vector width and tile shape follow the ISA the unit is built for:
//   AVX-512: 8 x 32 (16 zmm accumulators)   AVX2+FMA: 6 x 16 (12 ymm)   SSE2: 4 x 8 (8 xmm)
// The accumulators stay in registers for the whole k loop; the compiler turns `acc += a * b` into
// one FMA per vector under -mfma (GNU mode contracts by default).
#pragma once
#include <cstdint>
#include <cstring>

#include "ops/common/bf16.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace PILLOW_ISA_NAMESPACE {

#if defined(__AVX512F__)
typedef float gemm_vector __attribute__((vector_size(64)));
inline constexpr int kGemmRows = 8;
#elif defined(__AVX2__)
typedef float gemm_vector __attribute__((vector_size(32)));
inline constexpr int kGemmRows = 6;
#else
typedef float gemm_vector __attribute__((vector_size(16)));
inline constexpr int kGemmRows = 4;
#endif
inline constexpr int kGemmLanes = static_cast<int>(sizeof(gemm_vector) / sizeof(float));
inline constexpr int kGemmVectors = 2;  // vectors per tile row
inline constexpr int kGemmColumns = kGemmLanes * kGemmVectors;

inline gemm_vector gemm_load(const float* p) {
  gemm_vector v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline void gemm_store(float* p, gemm_vector v) { std::memcpy(p, &v, sizeof(v)); }

// The tile loop for the first ROWS rows of the packed A panel (ROWS <= MR; a_packed keeps its
// MR stride). rows <= ROWS and cols <= NR rows and columns of C are written.
template <int ROWS>
inline void gemm_micro_rows(float* c, int64_t ldc, const float* a_packed, const float* b_packed, int64_t k, int rows,
                            int cols, bool accumulate) {
  // Pull the C tile toward L1 while the k loop runs; it is read (or written) once at the end.
  for (int r = 0; r < ROWS; ++r) {
    __builtin_prefetch(c + r * ldc, 1);
    __builtin_prefetch(c + r * ldc + kGemmColumns - 1, 1);
  }
  gemm_vector acc[ROWS][kGemmVectors];
#pragma GCC unroll 16
  for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kGemmVectors; ++v) acc[r][v] = gemm_vector{};
#pragma GCC unroll 4
  for (int64_t p = 0; p < k; ++p) {
    gemm_vector b[kGemmVectors];
#pragma GCC unroll 4
    for (int v = 0; v < kGemmVectors; ++v) b[v] = gemm_load(b_packed + v * kGemmLanes);
#pragma GCC unroll 16
    for (int r = 0; r < ROWS; ++r) {
      const gemm_vector a = a_packed[r] - gemm_vector{};  // a splat (x - 0 folds to x)
#pragma GCC unroll 4
      for (int v = 0; v < kGemmVectors; ++v) acc[r][v] += a * b[v];
    }
    a_packed += kGemmRows;
    b_packed += kGemmColumns;
  }
  if (rows == ROWS && cols == kGemmColumns) {
#pragma GCC unroll 16
    for (int r = 0; r < ROWS; ++r) {
#pragma GCC unroll 4
      for (int v = 0; v < kGemmVectors; ++v) {
        float* dst = c + r * ldc + v * kGemmLanes;
        gemm_store(dst, accumulate ? gemm_load(dst) + acc[r][v] : acc[r][v]);
      }
    }
    return;
  }
  // Edge tile: spill to a buffer and copy the valid part.
  float tile[ROWS][kGemmColumns];
  for (int r = 0; r < ROWS; ++r)
    for (int v = 0; v < kGemmVectors; ++v) gemm_store(&tile[r][v * kGemmLanes], acc[r][v]);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < cols; ++j) c[r * ldc + j] = accumulate ? c[r * ldc + j] + tile[r][j] : tile[r][j];
}

// c[r * ldc + j] = (accumulate ? c : 0) + sum_p a_packed[p*MR + r] * b_packed[p*NR + j]
// for r < rows, j < cols (rows <= MR, cols <= NR; the packed panels are zero-padded to full size).
// A tile of at most MR/2 rows (the last one when M is not a multiple of MR, e.g. 2 of 512 rows
// with MR = 6) runs a half-height loop: half the FMAs, instead of computing the zero rows.
inline void gemm_micro(float* c, int64_t ldc, const float* a_packed, const float* b_packed, int64_t k, int rows,
                       int cols, bool accumulate) {
  if (rows <= kGemmRows / 2) {
    gemm_micro_rows<kGemmRows / 2>(c, ldc, a_packed, b_packed, k, rows, cols, accumulate);
  } else {
    gemm_micro_rows<kGemmRows>(c, ldc, a_packed, b_packed, k, rows, cols, accumulate);
  }
}

// Packs `panels` full panels of an operand whose columns are adjacent in memory and whose k steps
// are k_stride apart (W in dy·W, read down its columns): dst[j·panel_stride + p·NR + r] =
// src[p·k_stride + j·NR + r] (f32, or bf16 bits widened). All panels of a column chunk come from
// one pass over the rows: each row's panels·NR values are contiguous, so the cache lines of a row
// are fetched together, and the rows kPackAhead steps ahead are prefetched (rows are a whole
// weight row apart, a stride the hardware prefetchers do not follow: packed panel by panel, these
// misses were ~11 % of a 134M LoRA training step).
template <typename T>
inline void pack_columns_typed(float* dst, int64_t panel_stride, const T* src, int64_t k_stride, int64_t kc,
                               int panels) {
  constexpr int64_t kPackAhead = 8;
  const int64_t row_bytes = static_cast<int64_t>(panels) * kGemmColumns * static_cast<int64_t>(sizeof(T));
  for (int64_t p = 0; p < kc; ++p) {
    const T* row = src + p * k_stride;
    const char* ahead = reinterpret_cast<const char*>(row + kPackAhead * k_stride);
    for (int64_t byte = 0; byte < row_bytes; byte += 64) __builtin_prefetch(ahead + byte, 0, 3);  // never faults
    for (int j = 0; j < panels; ++j) {
      float* out = dst + j * panel_stride + p * kGemmColumns;
      const T* in = row + j * kGemmColumns;
      if constexpr (sizeof(T) == 2) {
        for (int r = 0; r < kGemmColumns; ++r) out[r] = bf16_to_f32(in[r]);
      } else {
        std::memcpy(out, in, sizeof(float) * kGemmColumns);
      }
    }
  }
}

inline bool gemm_pack_b_columns(float* dst, int64_t panel_stride, const void* src, int type, int64_t k_stride,
                                int64_t kc, int panels) {
  if (type == 1) {
    pack_columns_typed(dst, panel_stride, static_cast<const uint16_t*>(src), k_stride, kc, panels);
  } else {
    pack_columns_typed(dst, panel_stride, static_cast<const float*>(src), k_stride, kc, panels);
  }
  return true;
}

// Packs a full panel of kGemmColumns rows of a k-contiguous operand (W in x·Wᵀ, f32 or bf16 bits)
// into the micro-kernel's layout dst[p * NR + r] = src[r * row_stride + p], for p < kc.
// Returns false when this ISA has no fast path (the caller then packs element by element).
// AVX2/AVX-512: 8 rows x 8 k at a time through an in-register 8x8 transpose, so the reads are
// contiguous 32-byte rows and the writes contiguous 32-byte columns.
#if defined(__AVX2__)
inline void transpose8(__m256& r0, __m256& r1, __m256& r2, __m256& r3, __m256& r4, __m256& r5, __m256& r6,
                       __m256& r7) {
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r0 = _mm256_permute2f128_ps(u0, u4, 0x20);
  r1 = _mm256_permute2f128_ps(u1, u5, 0x20);
  r2 = _mm256_permute2f128_ps(u2, u6, 0x20);
  r3 = _mm256_permute2f128_ps(u3, u7, 0x20);
  r4 = _mm256_permute2f128_ps(u0, u4, 0x31);
  r5 = _mm256_permute2f128_ps(u1, u5, 0x31);
  r6 = _mm256_permute2f128_ps(u2, u6, 0x31);
  r7 = _mm256_permute2f128_ps(u3, u7, 0x31);
}

inline __m256 load8_widened(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8_widened(const uint16_t* p) {
  const __m128i bits = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(bits), 16));
}

template <typename T>
inline void pack_rows_transposed(float* dst, const T* src, int64_t row_stride, int64_t kc) {
  int64_t p = 0;
  for (; p + 8 <= kc; p += 8) {
    for (int g = 0; g < kGemmColumns; g += 8) {
      const T* base = src + g * row_stride + p;
      __m256 r0 = load8_widened(base), r1 = load8_widened(base + row_stride);
      __m256 r2 = load8_widened(base + 2 * row_stride), r3 = load8_widened(base + 3 * row_stride);
      __m256 r4 = load8_widened(base + 4 * row_stride), r5 = load8_widened(base + 5 * row_stride);
      __m256 r6 = load8_widened(base + 6 * row_stride), r7 = load8_widened(base + 7 * row_stride);
      transpose8(r0, r1, r2, r3, r4, r5, r6, r7);
      float* out = dst + p * kGemmColumns + g;
      _mm256_storeu_ps(out, r0);
      _mm256_storeu_ps(out + kGemmColumns, r1);
      _mm256_storeu_ps(out + 2 * kGemmColumns, r2);
      _mm256_storeu_ps(out + 3 * kGemmColumns, r3);
      _mm256_storeu_ps(out + 4 * kGemmColumns, r4);
      _mm256_storeu_ps(out + 5 * kGemmColumns, r5);
      _mm256_storeu_ps(out + 6 * kGemmColumns, r6);
      _mm256_storeu_ps(out + 7 * kGemmColumns, r7);
    }
  }
  for (; p < kc; ++p) {
    for (int r = 0; r < kGemmColumns; ++r) {
      float value;
      if constexpr (sizeof(T) == 2) {
        const uint32_t wide = static_cast<uint32_t>(src[r * row_stride + p]) << 16;
        std::memcpy(&value, &wide, sizeof(value));
      } else {
        value = src[r * row_stride + p];
      }
      dst[p * kGemmColumns + r] = value;
    }
  }
}

inline bool gemm_pack_b(float* dst, const void* src, int type, int64_t row_stride, int64_t kc) {
  if (type == 1) {
    pack_rows_transposed(dst, static_cast<const uint16_t*>(src), row_stride, kc);
  } else {
    pack_rows_transposed(dst, static_cast<const float*>(src), row_stride, kc);
  }
  return true;
}

// Packs a full panel of kGemmRows (<= 8) rows of a k-contiguous operand (x in x·Wᵀ) into the
// micro-kernel's A layout dst[p * MR + r] = src[r * row_stride + p]. Same 8x8 transpose as above
// (missing rows are zero); with MR = 6 each k step's 8-float store overlaps the next step's slot,
// which the next store overwrites, and the last step of each group stores exactly 6 floats, so
// nothing is written past the panel. The element-by-element loop it replaces cost ~2 % of a
// 512x2048x2048 GEMM.
template <typename T>
inline void pack_rows_interleaved(float* dst, const T* src, int64_t row_stride, int64_t kc) {
  static_assert(kGemmRows <= 8, "the A packing transposes 8 rows at a time");
  int64_t p = 0;
  for (; p + 8 <= kc; p += 8) {
    __m256 r[8];
    for (int i = 0; i < 8; ++i) r[i] = i < kGemmRows ? load8_widened(src + i * row_stride + p) : _mm256_setzero_ps();
    transpose8(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
    float* out = dst + p * kGemmRows;
    if constexpr (kGemmRows == 8) {
      for (int i = 0; i < 8; ++i) _mm256_storeu_ps(out + i * 8, r[i]);
    } else {
      for (int i = 0; i < 7; ++i) _mm256_storeu_ps(out + i * kGemmRows, r[i]);
      float last[8];
      _mm256_storeu_ps(last, r[7]);
      std::memcpy(out + 7 * kGemmRows, last, sizeof(float) * kGemmRows);
    }
  }
  for (; p < kc; ++p) {
    for (int i = 0; i < kGemmRows; ++i) {
      float value;
      if constexpr (sizeof(T) == 2) {
        const uint32_t wide = static_cast<uint32_t>(src[i * row_stride + p]) << 16;
        std::memcpy(&value, &wide, sizeof(value));
      } else {
        value = src[i * row_stride + p];
      }
      dst[p * kGemmRows + i] = value;
    }
  }
}

inline bool gemm_pack_a(float* dst, const void* src, int type, int64_t row_stride, int64_t kc) {
  if (type == 1) {
    pack_rows_interleaved(dst, static_cast<const uint16_t*>(src), row_stride, kc);
  } else {
    pack_rows_interleaved(dst, static_cast<const float*>(src), row_stride, kc);
  }
  return true;
}
#else
inline bool gemm_pack_b(float*, const void*, int, int64_t, int64_t) { return false; }
inline bool gemm_pack_a(float*, const void*, int, int64_t, int64_t) { return false; }
#endif

}  // namespace PILLOW_ISA_NAMESPACE
