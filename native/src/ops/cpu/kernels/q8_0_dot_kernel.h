// The Q8_0 × Q8_0 dot products of the decode GEMV (llama.cpp's vec_dot_q8_0_q8_0 numerics): W's
// rows in Q8_0 blocks as a GGUF stores them, x already rounded to Q8_0 (codes and f32 scales, see
// quantized_matvec.h). Per 32-value block the int8 codes are multiplied and summed in int32,
// exactly, and scaled by d_w·d_x.
//
// The numerics every variant shares, bit for bit: a block's 32 products are summed as 8 int32
// lanes of 4 adjacent products each (lane l: codes 4l..4l+3); each lane keeps its own f32 sum over
// the row's blocks, acc_l = fma(d_w·d_x, lane_l, acc_l); the row's value is
// ((acc0+acc4) + (acc2+acc6)) + ((acc1+acc5) + (acc3+acc7)). The int32 lanes are exact (|lane| <=
// 4·128·127), so only the order of the f32 operations could differ, and it is fixed here.
//
// Variants, picked by the translation unit's flags: AVX-512 VNNI (vpdpbusd on 256-bit vectors),
// AVX2 (the sign trick: |w| as unsigned bytes times x with w's sign, vpmaddubsw then vpmaddwd) and
// the portable loop (the reference).
#pragma once
#include <cmath>
#include <cstdint>

#include "ops/common/f16.h"
#include "ops/common/weight_view.h"
#include "runtime/cpu_features.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace PILLOW_ISA_NAMESPACE {


#if defined(__AVX2__)

// 8 int32 lanes, lane l = Σ_{j<4} w[4l+j]·x[4l+j] over one block's 32 codes.
inline __m256i q8_0_block_lanes(__m256i w, __m256i x) {
  const __m256i w_magnitude = _mm256_sign_epi8(w, w);  // |w| as unsigned bytes (−128 → 128)
  const __m256i x_signed = _mm256_sign_epi8(x, w);     // x · sign(w), 0 where w = 0
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), w_magnitude, x_signed);
#else
  // |w|·x pairs into int16 (at most 2·128·127: never saturates), then pairs of those into int32.
  return _mm256_madd_epi16(_mm256_maddubs_epi16(w_magnitude, x_signed), _mm256_set1_epi16(1));
#endif
}

inline float q8_0_lane_sum(__m256 acc) {
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));  // l + (l+4)
  sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));                                         // (0+4)+(2+6), (1+5)+(3+7)
  sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
  return _mm_cvtss_f32(sum);
}

// ROWS rows (row_bytes apart) against one x: x's block is loaded once for all of them, and the
// ROWS chains of accumulations are independent.
template <int ROWS>
inline void q8_0_dot_tile(float* out, const uint8_t* w, int64_t row_bytes, const int8_t* x_codes,
                          const float* x_scales, int64_t blocks) {
  const int64_t prefetch_bytes = ::pillow::decode_prefetch_bytes();  // per host, see cpu_features.h
  __m256 acc[ROWS];
  for (int r = 0; r < ROWS; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x_codes + b * ::pillow::kQ8_0BlockValues));
    const float dx = x_scales[b];
    for (int r = 0; r < ROWS; ++r) {
      const uint8_t* block = w + r * row_bytes + b * ::pillow::kQ8_0BlockBytes;
      // Never faults, even past the end.
      _mm_prefetch(reinterpret_cast<const char*>(block + prefetch_bytes), _MM_HINT_T0);
      const __m256i codes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 2));
      const __m256 d = _mm256_set1_ps(_cvtsh_ss(::pillow::block_scale_bits(block)) * dx);
      acc[r] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(q8_0_block_lanes(codes, x)), acc[r]);
    }
  }
  for (int r = 0; r < ROWS; ++r) out[r] = q8_0_lane_sum(acc[r]);
}

#else

template <int ROWS>
inline void q8_0_dot_tile(float* out, const uint8_t* w, int64_t row_bytes, const int8_t* x_codes,
                          const float* x_scales, int64_t blocks) {
  for (int r = 0; r < ROWS; ++r) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t b = 0; b < blocks; ++b) {
      const uint8_t* block = w + r * row_bytes + b * ::pillow::kQ8_0BlockBytes;
      const int8_t* codes = reinterpret_cast<const int8_t*>(block + 2);
      const int8_t* x = x_codes + b * ::pillow::kQ8_0BlockValues;
      const float d = ::pillow::f16_to_f32(::pillow::block_scale_bits(block)) * x_scales[b];
      for (int l = 0; l < 8; ++l) {
        int32_t lane = 0;
        for (int j = 4 * l; j < 4 * l + 4; ++j) lane += static_cast<int32_t>(codes[j]) * static_cast<int32_t>(x[j]);
        acc[l] = std::fma(d, static_cast<float>(lane), acc[l]);
      }
    }
    out[r] = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
  }
}

#endif

// Rows streamed at once: one, on every build. Measured on a Zen 3 EPYC (AVX2, 1 thread, 32000×768,
// 26 MB of blocks): one row at a time with the prefetch 2.1–2.5 ms, four at a time 4.7–5.2 ms. The
// AVX-512 builds run the same one-row loop (the f32-widening kernel this replaced liked four rows on
// an AVX-512 Xeon, but this kernel has not been measured there), so what runs on those hosts is the
// code path tested here, with only the block's int32 dot (vpdpbusd under VNNI) differing.
// out[0, rows) = W row r · x for the rows (1..4, row_bytes apart) from w: w [rows, 32·blocks] in
// Q8_0 blocks, x_codes [32·blocks] int8 and x_scales [blocks] f32 (x in Q8_0).
inline void q8_0_dot_rows(float* out, const uint8_t* w, int64_t row_bytes, const int8_t* x_codes,
                          const float* x_scales, int64_t blocks, int rows) {
  for (int r = 0; r < rows; ++r) q8_0_dot_tile<1>(out + r, w + r * row_bytes, row_bytes, x_codes, x_scales, blocks);
}

}  // namespace PILLOW_ISA_NAMESPACE
