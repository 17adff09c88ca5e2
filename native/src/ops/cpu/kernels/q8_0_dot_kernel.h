// The Q8_0 × Q8_0 dot products of the decode GEMV (llama.cpp's vec_dot_q8_0_q8_0 numerics): W's
// rows in Q8_0 blocks as a GGUF stores them, x already rounded to Q8_0 (codes and f32 scales, see
// quantized_matvec.h). Per 32-value block the int8 codes are multiplied and summed in int32,
// exactly, and scaled by d_w·d_x. The numerics here (the portable loop, block_lane_sum) are shared with
// the Q4_0 kernel (q4_0_dot_kernel.h), which multiplies up to 4 rows in one pass.
//
// The numerics every variant shares, bit for bit: a block's 32 products are summed as 8 int32
// lanes of 4 adjacent products each (lane l: codes 4l..4l+3); each lane keeps two f32 sums over the
// row's blocks, one over the even-numbered blocks and one over the odd ones,
// even_l = fma(d_w·d_x, lane_l, even_l) (odd_l alike), s_l = even_l + odd_l, and the row's value is
// ((s0+s4) + (s2+s6)) + ((s1+s5) + (s3+s7)). The int32 lanes are exact (|lane| <= 4·128·127), so
// only the order of the f32 operations could differ, and it is fixed here. Two sums instead of one
// halve the chain of dependent FMAs: from L2, one thread, on the AVX-512 Intel host (family 6 model
// 167), Q8_0 1.50-1.55 → 1.20-1.28 ns per block of 2048×768 and Q4_0 1.53-1.62 → 1.45-1.54. (Both
// blocks of a pair in one 512-bit vpdpbusd measured slower: 1.54 / 1.90 ns, the lanes' inserts
// costing more than the wider instruction saves.)
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

// ((s0+s4) + (s2+s6)) + ((s1+s5) + (s3+s7)) of s = even + odd.
inline float block_lane_sum(__m256 even, __m256 odd) {
  const __m256 s = _mm256_add_ps(even, odd);
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));  // l + (l+4)
  sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));                                   // (0+4)+(2+6), (1+5)+(3+7)
  sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
  return _mm_cvtss_f32(sum);
}

// d_w·d_x of block b (its f16 scale, its first two bytes, times x's scale of that block).
inline float block_scale(const uint8_t* block, const float* x_scales, int64_t b) {
  return _cvtsh_ss(::pillow::block_scale_bits(block)) * x_scales[b];
}

// One row of `blocks` blocks of BlockBytes against x: lanes(block, x_codes) gives a block's 8
// int32 lanes; the even blocks go into one sum and the odd ones into the other.
template <int64_t BlockBytes, typename Lanes>
inline float block_row_dot(const uint8_t* w, const int8_t* x_codes, const float* x_scales, int64_t blocks, Lanes lanes) {
  constexpr int64_t kValues = ::pillow::kQ8_0BlockValues;
  const int64_t prefetch_bytes = ::pillow::decode_prefetch_bytes();  // per host, see cpu_features.h
  __m256 even = _mm256_setzero_ps(), odd = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 2 <= blocks; b += 2) {
    const uint8_t* block = w + b * BlockBytes;
    _mm_prefetch(reinterpret_cast<const char*>(block + prefetch_bytes), _MM_HINT_T0);  // never faults
    even = _mm256_fmadd_ps(_mm256_set1_ps(block_scale(block, x_scales, b)),
                           _mm256_cvtepi32_ps(lanes(block, x_codes + b * kValues)), even);
    odd = _mm256_fmadd_ps(_mm256_set1_ps(block_scale(block + BlockBytes, x_scales, b + 1)),
                          _mm256_cvtepi32_ps(lanes(block + BlockBytes, x_codes + (b + 1) * kValues)), odd);
  }
  if (b < blocks) {  // the last block, even-numbered
    const uint8_t* block = w + b * BlockBytes;
    even = _mm256_fmadd_ps(_mm256_set1_ps(block_scale(block, x_scales, b)),
                           _mm256_cvtepi32_ps(lanes(block, x_codes + b * kValues)), even);
  }
  return block_lane_sum(even, odd);
}

inline __m256i q8_0_lanes_at(const uint8_t* block, const int8_t* x) {
  return q8_0_block_lanes(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 2)),
                          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)));
}

inline float q8_0_dot_row(const uint8_t* w, const int8_t* x_codes, const float* x_scales, int64_t blocks) {
  return block_row_dot<::pillow::kQ8_0BlockBytes>(w, x_codes, x_scales, blocks, q8_0_lanes_at);
}

#else

// The reference: codes(block, j) is value j's code of a block, in value order.
template <int64_t BlockBytes, typename Codes>
inline float block_row_dot_portable(const uint8_t* w, const int8_t* x_codes, const float* x_scales, int64_t blocks,
                                    Codes codes) {
  float acc[2][8] = {{0, 0, 0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 0, 0}};  // even, odd blocks
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* block = w + b * BlockBytes;
    const int8_t* x = x_codes + b * ::pillow::kQ8_0BlockValues;
    const float d = ::pillow::f16_to_f32(::pillow::block_scale_bits(block)) * x_scales[b];
    for (int l = 0; l < 8; ++l) {
      int32_t lane = 0;
      for (int j = 4 * l; j < 4 * l + 4; ++j) lane += codes(block, j) * static_cast<int32_t>(x[j]);
      acc[b & 1][l] = std::fma(d, static_cast<float>(lane), acc[b & 1][l]);
    }
  }
  float s[8];
  for (int l = 0; l < 8; ++l) s[l] = acc[0][l] + acc[1][l];
  return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
}

inline float q8_0_dot_row(const uint8_t* w, const int8_t* x_codes, const float* x_scales, int64_t blocks) {
  return block_row_dot_portable<::pillow::kQ8_0BlockBytes>(w, x_codes, x_scales, blocks, ::pillow::q8_0_code);
}

#endif

// Rows streamed at once: one, on every build. Measured on a Zen 3 EPYC (AVX2, 1 thread, 32000×768,
// 26 MB of blocks): one row at a time with the prefetch 2.1–2.5 ms, four at a time 4.7–5.2 ms.
// out[0, rows) = W row r · x for the rows (1..4, row_bytes apart) from w: w [rows, 32·blocks] in
// Q8_0 blocks, x_codes [32·blocks] int8 and x_scales [blocks] f32 (x in Q8_0).
inline void q8_0_dot_rows(float* out, const uint8_t* w, int64_t row_bytes, const int8_t* x_codes,
                          const float* x_scales, int64_t blocks, int rows) {
  for (int r = 0; r < rows; ++r) out[r] = q8_0_dot_row(w + r * row_bytes, x_codes, x_scales, blocks);
}

}  // namespace PILLOW_ISA_NAMESPACE
