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

// c[r * ldc + j] = (accumulate ? c : 0) + sum_p a_packed[p*MR + r] * b_packed[p*NR + j]
// for r < rows, j < cols (rows <= MR, cols <= NR; the packed panels are zero-padded to full size).
inline void gemm_micro(float* c, int64_t ldc, const float* a_packed, const float* b_packed, int64_t k, int rows,
                       int cols, bool accumulate) {
  gemm_vector acc[kGemmRows][kGemmVectors];
#pragma GCC unroll 16
  for (int r = 0; r < kGemmRows; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kGemmVectors; ++v) acc[r][v] = gemm_vector{} ;
  for (int64_t p = 0; p < k; ++p) {
    gemm_vector b[kGemmVectors];
#pragma GCC unroll 4
    for (int v = 0; v < kGemmVectors; ++v) b[v] = gemm_load(b_packed + v * kGemmLanes);
#pragma GCC unroll 16
    for (int r = 0; r < kGemmRows; ++r) {
      const gemm_vector a = a_packed[r] - gemm_vector{};  // a splat (x - 0 folds to x)
#pragma GCC unroll 4
      for (int v = 0; v < kGemmVectors; ++v) acc[r][v] += a * b[v];
    }
    a_packed += kGemmRows;
    b_packed += kGemmColumns;
  }
  if (rows == kGemmRows && cols == kGemmColumns) {
#pragma GCC unroll 16
    for (int r = 0; r < kGemmRows; ++r) {
#pragma GCC unroll 4
      for (int v = 0; v < kGemmVectors; ++v) {
        float* dst = c + r * ldc + v * kGemmLanes;
        gemm_store(dst, accumulate ? gemm_load(dst) + acc[r][v] : acc[r][v]);
      }
    }
    return;
  }
  // Edge tile: spill to a buffer and copy the valid part.
  float tile[kGemmRows][kGemmColumns];
  for (int r = 0; r < kGemmRows; ++r)
    for (int v = 0; v < kGemmVectors; ++v) gemm_store(&tile[r][v * kGemmLanes], acc[r][v]);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < cols; ++j) c[r * ldc + j] = accumulate ? c[r * ldc + j] + tile[r][j] : tile[r][j];
}

}  // namespace PILLOW_ISA_NAMESPACE
