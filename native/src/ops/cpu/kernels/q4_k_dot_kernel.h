// The Q4_K × Q8_K dot products of the decode GEMV (llama.cpp's vec_dot_q4_K_q8_K numerics): W's
// rows in Q4_K super-blocks as a GGUF stores them, x already rounded to Q8_K (256 int8 codes and one
// f32 scale per super-block, see quantized_matvec.h). Q8_K rather than Q8_0 because it is what
// llama.cpp rounds x to for a Q4_K weight (ggml's vec_dot_type): rounding x as it does is what makes
// pillow's logits on a Q4_K file agree with llama.cpp's to float rounding, not to x's rounding.
//
// Per super-block b, with W's sub-block j (32 values) scale sc_j, min m_j and codes q, and x's codes c:
//   products = Σ_j sc_j · Σ_{l<32} q·c     (int32, exact: |products| <= 8·63·32·15·127)
//   offsets  = Σ_j m_j · Σ_{l<32} c        (int32, exact)
//   sum     = fma(d_x·d_w, float(products), sum)
//   min_sum = fma(d_x·dmin_w, float(offsets), min_sum)
// over the row's super-blocks in order, and the row's value is sum − min_sum. The integer sums are
// exact whatever order a variant adds them in, and the f32 steps are these scalar ones in every
// variant, so all variants give the same bits.
//
// Variants, picked by the translation unit's flags: AVX-512 VNNI (vpmaddubsw on the unsigned nibbles
// and x, then vpdpwssd with the sub-block's scale), AVX2 (vpmaddubsw, then vpmaddwd and an add), both
// with the scales and mins decoded into vectors once per super-block and Σc per sub-block from sums
// of x's codes made once per call for all its rows, and the portable loop (the reference).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "ops/common/f16.h"
#include "ops/common/weight_view.h"
#include "runtime/cpu_features.h"

#if defined(__AVX2__) || defined(__F16C__)
#include <immintrin.h>
#endif

namespace PILLOW_ISA_NAMESPACE {

// The f32 steps every variant shares: one super-block's exact integer sums into the row's two sums.
inline void q4_k_accumulate(float* sum, float* min_sum, const uint8_t* block, float x_scale, int32_t products,
                            int32_t offsets) {
  // d and dmin widened exactly (the F16C instruction where the flags allow, else the library's loop).
#if defined(__F16C__)
  const float d = _cvtsh_ss(::pillow::block_scale_bits(block));
  const float dmin = _cvtsh_ss(::pillow::block_scale_bits(block + 2));
#else
  const float d = ::pillow::f16_to_f32(::pillow::block_scale_bits(block));
  const float dmin = ::pillow::f16_to_f32(::pillow::block_scale_bits(block + 2));
#endif
  *sum = std::fma(x_scale * d, static_cast<float>(products), *sum);
  *min_sum = std::fma(x_scale * dmin, static_cast<float>(offsets), *min_sum);
}

#if defined(__AVX2__)

inline int32_t q4_k_horizontal_sum(__m256i lanes) {
  __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(lanes), _mm256_extracti128_si256(lanes, 1));
  sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, _MM_SHUFFLE(1, 0, 3, 2)));
  sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(sum);
}

// Σ of x's 32 codes of each sub-block: sums[8·blocks], computed once per call for all its rows
// (llama.cpp's Q8_K keeps such sums, per 16 values, as bsums).
inline void q4_k_code_sums(int32_t* sums, const int8_t* x_codes, int64_t blocks) {
  const __m256i ones = _mm256_set1_epi8(1);
  for (int64_t s = 0; s < 8 * blocks; ++s) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x_codes + 32 * s));
    sums[s] = q4_k_horizontal_sum(_mm256_madd_epi16(_mm256_maddubs_epi16(ones, x), _mm256_set1_epi16(1)));
  }
}

// The eight scales as int16 lanes, in both 128-bit halves; scale j of them in every 16-bit lane (vpshufb).
inline __m256i q4_k_scale_lanes(__m128i scale_and_min_bytes) {
  return _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scale_and_min_bytes));
}
inline __m256i q4_k_broadcast_scale(__m256i scales, int j) {
  return _mm256_shuffle_epi8(scales, _mm256_set1_epi16(static_cast<int16_t>((2 * j + 1) << 8 | 2 * j)));
}

// accumulated + one sub-block's Σ q·c times its scale (in every 16-bit lane of `scale`): pairs of
// q·c into int16 (vpmaddubsw: the unsigned nibbles times x's signed codes, at most 2·15·127, never
// saturates), then pairs of those times the scale into the int32 lanes — vpdpwssd where the CPU has
// AVX-512 VNNI (one instruction for the multiply-add), vpmaddwd and an add otherwise. (vpdpbusd on
// the nibbles, then the lanes times the scale with vpmulld, measured slower: 12.0–12.8 against
// 10.6–11.5 ns per 256 weights, 1 thread.)
inline __m256i q4_k_add_scaled_products(__m256i accumulated, __m256i nibbles, __m256i x, __m256i scale) {
  const __m256i pairs = _mm256_maddubs_epi16(nibbles, x);
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpwssd_epi32(accumulated, pairs, scale);
#else
  return _mm256_add_epi32(accumulated, _mm256_madd_epi16(pairs, scale));
#endif
}

inline float q4_k_dot_row(const uint8_t* w, const int8_t* x_codes, const float* x_scales, const int32_t* code_sums,
                          int64_t blocks) {
  const int64_t prefetch_bytes = ::pillow::decode_prefetch_bytes();  // per host, see cpu_features.h
  const __m256i low_mask = _mm256_set1_epi8(0x0F);
  float sum = 0.0f, min_sum = 0.0f;
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* block = w + b * ::pillow::kQ4_KBlockBytes;
    const int8_t* x = x_codes + b * ::pillow::kQ4_KBlockValues;
    // A super-block spans three cache lines; never faults.
    _mm_prefetch(reinterpret_cast<const char*>(block + prefetch_bytes), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(block + prefetch_bytes + 64), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(block + prefetch_bytes + 128), _MM_HINT_T0);
    uint32_t words[4];
    ::pillow::q4_k_scale_and_min_words(block, words);
    // Bytes 0..7 the scales, 8..15 the mins.
    const __m128i scale_and_min_bytes = _mm_setr_epi32(static_cast<int>(words[0]), static_cast<int>(words[1]),
                                                       static_cast<int>(words[2]), static_cast<int>(words[3]));
    const __m256i scales = q4_k_scale_lanes(scale_and_min_bytes);
    // Σ_j m_j·(Σ c over sub-block j): the mins as int32 lanes times x's sums.
    const __m256i mins = _mm256_cvtepu8_epi32(_mm_srli_si128(scale_and_min_bytes, 8));
    const int32_t offsets = q4_k_horizontal_sum(
        _mm256_mullo_epi32(mins, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(code_sums + 8 * b))));
    __m256i products = _mm256_setzero_si256();
    for (int round = 0; round < 4; ++round) {
      // qs[32·round ..]: low nibbles are sub-block 2·round, high nibbles sub-block 2·round + 1.
      const __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 16 + 32 * round));
      const __m256i low = _mm256_and_si256(packed, low_mask);
      const __m256i high = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low_mask);
      const __m256i x_low = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 64 * round));
      const __m256i x_high = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 64 * round + 32));
      products = q4_k_add_scaled_products(products, low, x_low, q4_k_broadcast_scale(scales, 2 * round));
      products = q4_k_add_scaled_products(products, high, x_high, q4_k_broadcast_scale(scales, 2 * round + 1));
    }
    q4_k_accumulate(&sum, &min_sum, block, x_scales[b], q4_k_horizontal_sum(products), offsets);
  }
  return sum - min_sum;
}

// out[0, rows) = W row r · x for the rows (1..4, row_bytes apart) from w: w [rows, 256·blocks] in
// Q4_K super-blocks, x_codes [256·blocks] int8 and x_scales [blocks] f32 (x in Q8_K). One row
// streamed at a time, as the Q8_0 kernel does; x's sub-block sums once for them all.
inline void q4_k_dot_rows(float* out, const uint8_t* w, int64_t row_bytes, const int8_t* x_codes,
                          const float* x_scales, int64_t blocks, int rows) {
  thread_local std::vector<int32_t> code_sums;
  if (static_cast<int64_t>(code_sums.size()) < 8 * blocks) code_sums.resize(static_cast<size_t>(8 * blocks));
  q4_k_code_sums(code_sums.data(), x_codes, blocks);
  for (int r = 0; r < rows; ++r) out[r] = q4_k_dot_row(w + r * row_bytes, x_codes, x_scales, code_sums.data(), blocks);
}

#else

// The reference.
inline float q4_k_dot_row(const uint8_t* w, const int8_t* x_codes, const float* x_scales, int64_t blocks) {
  float sum = 0.0f, min_sum = 0.0f;
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* block = w + b * ::pillow::kQ4_KBlockBytes;
    const int8_t* x = x_codes + b * ::pillow::kQ4_KBlockValues;
    int32_t products = 0, offsets = 0;
    for (int j = 0; j < 8; ++j) {
      int32_t scale, min;
      ::pillow::q4_k_scale_and_min(block, j, &scale, &min);
      int32_t q_times_c = 0, c = 0;
      for (int64_t l = 32 * j; l < 32 * j + 32; ++l) {
        q_times_c += ::pillow::q4_k_code(block, l) * static_cast<int32_t>(x[l]);
        c += x[l];
      }
      products += scale * q_times_c;
      offsets += min * c;
    }
    q4_k_accumulate(&sum, &min_sum, block, x_scales[b], products, offsets);
  }
  return sum - min_sum;
}

// out[0, rows) = W row r · x for the rows (1..4, row_bytes apart), as the SIMD variants' (above).
inline void q4_k_dot_rows(float* out, const uint8_t* w, int64_t row_bytes, const int8_t* x_codes,
                          const float* x_scales, int64_t blocks, int rows) {
  for (int r = 0; r < rows; ++r) out[r] = q4_k_dot_row(w + r * row_bytes, x_codes, x_scales, blocks);
}

#endif

}  // namespace PILLOW_ISA_NAMESPACE
