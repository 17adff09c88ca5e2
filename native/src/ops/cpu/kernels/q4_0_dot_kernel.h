// The Q4_0 × Q8_0 dot products of the decode GEMV (llama.cpp's vec_dot_q4_0_q8_0 numerics): W's
// rows in Q4_0 blocks as a GGUF stores them, x already rounded to Q8_0 (codes and f32 scales, see
// quantized_matvec.h). Per 32-value block W's signed 4-bit codes (nibble − 8, in −8..7) are
// multiplied with x's int8 codes and summed in int32, exactly, and scaled by d_w·d_x.
//
// The numerics every variant shares, bit for bit, are the Q8_0 kernel's (q8_0_dot_kernel.h, whose
// row loop this one runs): with the block's 32 codes in value order (values 0..15 the low nibbles
// of qs[0..15], 16..31 their high nibbles), lane l = Σ_{j<4} code[4l+j]·x[4l+j] in int32
// (|lane| <= 4·8·127: exact), each lane keeps an f32 sum over the even blocks and one over the odd
// ones, even_l = fma(d_w·d_x, lane_l, even_l), and the row's value is ((s0+s4) + (s2+s6)) +
// ((s1+s5) + (s3+s7)) of s_l = even_l + odd_l.
//
// Variants, picked by the translation unit's flags: AVX-512 VNNI (vpdpbusd on the unsigned nibbles
// as they are, minus 8·Σx per lane), AVX2 (nibbles − 8, then the Q8_0 kernel's sign trick) and the
// portable loop (the reference).
#pragma once
#include <cmath>
#include <cstdint>

#include "ops/common/f16.h"
#include "ops/common/weight_view.h"
#include "ops/cpu/kernels/q8_0_dot_kernel.h"
#include "runtime/cpu_features.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace PILLOW_ISA_NAMESPACE {

#if defined(__AVX2__)

// The block's 32 nibbles (0..15) as bytes in value order: the low nibbles of qs[0..15] in the low
// 128 bits (values 0..15), their high nibbles in the high 128 bits (values 16..31).
inline __m256i q4_0_block_nibbles(const uint8_t* block) {
  const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 2));
  const __m128i mask = _mm_set1_epi8(0x0F);
  const __m128i low = _mm_and_si128(packed, mask);
  // A 16-bit shift moves each byte's high nibble down (and the next byte's low bits in, masked off).
  const __m128i high = _mm_and_si128(_mm_srli_epi16(packed, 4), mask);
  return _mm256_set_m128i(high, low);
}

// 8 int32 lanes, lane l = Σ_{j<4} (nibble[4l+j] − 8)·x[4l+j] over one block.
inline __m256i q4_0_block_lanes(__m256i nibbles, __m256i x) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  // vpdpbusd takes its first operand unsigned: the nibbles multiply as they are, and the −8 of every
  // code comes off afterwards as 8·(the lane's four x codes), itself a vpdpbusd with a vector of 8s.
  const __m256i biased = _mm256_dpbusd_epi32(_mm256_setzero_si256(), nibbles, x);
  const __m256i offset = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(8), x);
  return _mm256_sub_epi32(biased, offset);
#else
  // The signed codes (−8..7), then the Q8_0 kernel's sign trick (|code| <= 8: never saturates).
  return q8_0_block_lanes(_mm256_sub_epi8(nibbles, _mm256_set1_epi8(8)), x);
#endif
}

inline __m256i q4_0_lanes_at(const uint8_t* block, const int8_t* x) {
  return q4_0_block_lanes(q4_0_block_nibbles(block), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)));
}

// out = W row · x for one row of `blocks` Q4_0 blocks (the prefetch reaches the Q8_0 kernel's
// distance in bytes: the same time ahead at the stream's rate, about twice as many blocks).
inline float q4_0_dot_row(const uint8_t* w, const int8_t* x_codes, const float* x_scales, int64_t blocks) {
  return block_row_dot<::pillow::kQ4_0BlockBytes>(w, x_codes, x_scales, blocks, q4_0_lanes_at);
}

#else

inline float q4_0_dot_row(const uint8_t* w, const int8_t* x_codes, const float* x_scales, int64_t blocks) {
  return block_row_dot_portable<::pillow::kQ4_0BlockBytes>(w, x_codes, x_scales, blocks, ::pillow::q4_0_code);
}

#endif

// out[0, rows) = W row r · x for the rows (1..4, row_bytes apart) from w: w [rows, 32·blocks] in
// Q4_0 blocks, x_codes [32·blocks] int8 and x_scales [blocks] f32 (x in Q8_0). One row streamed at
// a time, as the Q8_0 kernel does (measured there on a Zen 3 host; this kernel is not measured).
inline void q4_0_dot_rows(float* out, const uint8_t* w, int64_t row_bytes, const int8_t* x_codes,
                          const float* x_scales, int64_t blocks, int rows) {
  for (int r = 0; r < rows; ++r) out[r] = q4_0_dot_row(w + r * row_bytes, x_codes, x_scales, blocks);
}

}  // namespace PILLOW_ISA_NAMESPACE
