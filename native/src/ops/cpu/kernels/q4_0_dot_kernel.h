// The Q4_0 × Q8_0 dot products of the decode GEMV (llama.cpp's vec_dot_q4_0_q8_0 numerics): W's
// rows in Q4_0 blocks as a GGUF stores them, x already rounded to Q8_0 (codes and f32 scales, see
// quantized_matvec.h). Per 32-value block W's signed 4-bit codes (nibble − 8, in −8..7) are
// multiplied with x's int8 codes and summed in int32, exactly, and scaled by d_w·d_x.
//
// The numerics every variant shares, bit for bit, are the Q8_0 kernel's (q8_0_dot_kernel.h: its
// portable loop and lane sum are used here): with the block's 32 codes in value order (values 0..15 the low nibbles
// of qs[0..15], 16..31 their high nibbles), lane l = Σ_{j<4} code[4l+j]·x[4l+j] in int32
// (|lane| <= 4·8·127: exact), each lane keeps an f32 sum over the even blocks and one over the odd
// ones, even_l = fma(d_w·d_x, lane_l, even_l), and the row's value is ((s0+s4) + (s2+s6)) +
// ((s1+s5) + (s3+s7)) of s_l = even_l + odd_l.
//
// Variants, picked by the translation unit's flags: AVX-512 VNNI (vpdpbusd on the unsigned nibbles
// as they are, starting from −8·Σx per lane), AVX2 (vpmaddubsw on the unsigned nibbles, minus 8·Σx)
// and the portable loop (the reference).
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

// Up to 4 rows are multiplied together, block by block: x's block, and what is computed from it
// alone (its offset, its scale), is loaded once for all of them, and the rows' sums are independent
// chains. Each row's f32 operations stay in the order above, so the bits are the one-row loop's.
// One thread, AVX-512 Intel host (family 6 model 167), 2048×768 from L2: 1.31 → 0.79 ns a block
// (VNNI), the same bits.
template <int Rows>
inline void q4_0_dot_rows_together(float* out, const uint8_t* w, int64_t row_bytes, const int8_t* x_codes,
                                   const float* x_scales, int64_t blocks) {
  constexpr int64_t kBytes = ::pillow::kQ4_0BlockBytes;
  const int64_t prefetch_bytes = ::pillow::decode_prefetch_bytes();  // per host, see cpu_features.h
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  // The block's 16 code bytes in both 128-bit halves; the low half keeps the low nibbles (values
  // 0..15), the high half the high nibbles where they are, i.e. 16 × values 16..31: no shift. vpdpbusd
  // multiplies them unsigned with x's codes, starting from −8·Σx (low lanes) and −16·8·Σx (high
  // lanes), so the low lanes are the exact sums and the high lanes 16 × theirs. The high lanes' scale
  // carries the 1/16: d_w·(d_x/16)·(16·lane) rounds as d_w·d_x·lane does, since d_x/16 and
  // 16·lane are exact (d_x is an f16 value, far from f32's subnormals; |16·lane| < 2^24).
  const __m256i code_mask = _mm256_set_epi64x(static_cast<int64_t>(0xF0F0F0F0F0F0F0F0ull),
                                              static_cast<int64_t>(0xF0F0F0F0F0F0F0F0ull), 0x0F0F0F0F0F0F0F0Fll,
                                              0x0F0F0F0F0F0F0F0Fll);
  const __m256i offset_weights = _mm256_set_epi64x(static_cast<int64_t>(0x8080808080808080ull),
                                                   static_cast<int64_t>(0x8080808080808080ull), 0x0808080808080808ll,
                                                   0x0808080808080808ll);
  const __m256 lane_scale = _mm256_set_ps(0.0625f, 0.0625f, 0.0625f, 0.0625f, 1.0f, 1.0f, 1.0f, 1.0f);
  struct XBlock {
    __m256i codes, start;
    __m256 scale;
  };
  const auto x_block = [&](int64_t b) {
    XBlock x;
    x.codes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x_codes + b * 32));
    x.start = _mm256_sub_epi32(_mm256_setzero_si256(),
                               _mm256_dpbusd_epi32(_mm256_setzero_si256(), offset_weights, x.codes));
    x.scale = _mm256_mul_ps(_mm256_set1_ps(x_scales[b]), lane_scale);
    return x;
  };
  const auto lanes = [&](const uint8_t* block, const XBlock& x) {
    const __m256i packed = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 2)));
    return _mm256_dpbusd_epi32(x.start, _mm256_and_si256(packed, code_mask), x.codes);
  };
#else
  // AVX2: the high half's bytes shifted down by 4 (a 64-bit shift per half: 0 or 4), both halves
  // masked to their nibbles (0..15), multiplied unsigned with x's codes into int16 pairs (at most
  // 2·15·127: exact), pairs into int32, minus the block's 8·Σx per lane.
  const __m256i nibble_shift = _mm256_set_epi64x(4, 4, 0, 0);
  const __m256i nibble_mask = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  struct XBlock {
    __m256i codes, offset;
    __m256 scale;
  };
  const auto x_block = [&](int64_t b) {
    XBlock x;
    x.codes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x_codes + b * 32));
    x.offset = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(8), x.codes), ones);
    x.scale = _mm256_set1_ps(x_scales[b]);
    return x;
  };
  const auto lanes = [&](const uint8_t* block, const XBlock& x) {
    const __m256i packed = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 2)));
    const __m256i nibbles = _mm256_and_si256(_mm256_srlv_epi64(packed, nibble_shift), nibble_mask);
    return _mm256_sub_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(nibbles, x.codes), ones), x.offset);
  };
#endif
  // d_w (the block's f16 scale in every lane) times x's scale vector: d_w·d_x per lane.
  const auto scale = [](const uint8_t* block, const XBlock& x) {
    return _mm256_mul_ps(_mm256_cvtph_ps(_mm_set1_epi16(static_cast<short>(::pillow::block_scale_bits(block)))), x.scale);
  };
  __m256 even[Rows], odd[Rows];
  for (int r = 0; r < Rows; ++r) even[r] = odd[r] = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 2 <= blocks; b += 2) {
    const XBlock x0 = x_block(b), x1 = x_block(b + 1);
    for (int r = 0; r < Rows; ++r) {
      const uint8_t* block = w + r * row_bytes + b * kBytes;
      _mm_prefetch(reinterpret_cast<const char*>(block + prefetch_bytes), _MM_HINT_T0);  // never faults
      even[r] = _mm256_fmadd_ps(scale(block, x0), _mm256_cvtepi32_ps(lanes(block, x0)), even[r]);
      odd[r] = _mm256_fmadd_ps(scale(block + kBytes, x1), _mm256_cvtepi32_ps(lanes(block + kBytes, x1)), odd[r]);
    }
  }
  if (b < blocks) {  // the last block, even-numbered
    const XBlock x0 = x_block(b);
    for (int r = 0; r < Rows; ++r) {
      const uint8_t* block = w + r * row_bytes + b * kBytes;
      even[r] = _mm256_fmadd_ps(scale(block, x0), _mm256_cvtepi32_ps(lanes(block, x0)), even[r]);
    }
  }
  for (int r = 0; r < Rows; ++r) out[r] = block_lane_sum(even[r], odd[r]);
}

// out[0, rows) = W row r · x for the rows (1..4, row_bytes apart) from w: w [rows, 32·blocks] in
// Q4_0 blocks, x_codes [32·blocks] int8 and x_scales [blocks] f32 (x in Q8_0).
inline void q4_0_dot_rows(float* out, const uint8_t* w, int64_t row_bytes, const int8_t* x_codes,
                          const float* x_scales, int64_t blocks, int rows) {
  switch (rows) {
    case 4: return q4_0_dot_rows_together<4>(out, w, row_bytes, x_codes, x_scales, blocks);
    case 3: return q4_0_dot_rows_together<3>(out, w, row_bytes, x_codes, x_scales, blocks);
    case 2: return q4_0_dot_rows_together<2>(out, w, row_bytes, x_codes, x_scales, blocks);
    default:
      for (int r = 0; r < rows; ++r) q4_0_dot_rows_together<1>(out + r, w + r * row_bytes, row_bytes, x_codes, x_scales, blocks);
  }
}

#else

// out[0, rows) = W row r · x for the rows (1..4, row_bytes apart) from w: w [rows, 32·blocks] in
// Q4_0 blocks, x_codes [32·blocks] int8 and x_scales [blocks] f32 (x in Q8_0). The reference.
inline void q4_0_dot_rows(float* out, const uint8_t* w, int64_t row_bytes, const int8_t* x_codes,
                          const float* x_scales, int64_t blocks, int rows) {
  for (int r = 0; r < rows; ++r) {
    out[r] = block_row_dot_portable<::pillow::kQ4_0BlockBytes>(w + r * row_bytes, x_codes, x_scales, blocks,
                                                                 ::pillow::q4_0_code);
  }
}

#endif

}  // namespace PILLOW_ISA_NAMESPACE
