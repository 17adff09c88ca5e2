#include "ops/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "ops/common/fast_exp.h"
#include "ops/cpu/gemm.h"
#include "ops/cpu/vector_clones.h"
#include "runtime/cpu_features.h"
#include "runtime/errors.h"
#include "runtime/thread_pool.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PILLOW_ATTENTION_AVX512 1
#define PILLOW_AVX512_TARGET __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,fma")))
#endif

namespace pillow {

namespace {

void check(const char* op, const AttentionShape& s) {
  if (s.batch < 1 || s.q_len < 1 || s.kv_len < s.q_len || s.kv_batch_stride < s.kv_len || s.heads < 1 ||
      s.kv_heads < 1 || s.head_dim < 1 || s.heads % s.kv_heads != 0) {
    throw_shape_error(std::string(op) + ": invalid shape (batch " + std::to_string(s.batch) + ", q_len " +
                      std::to_string(s.q_len) + ", kv_len " + std::to_string(s.kv_len) + ", stride " +
                      std::to_string(s.kv_batch_stride) + ", heads " + std::to_string(s.heads) + ", kv_heads " +
                      std::to_string(s.kv_heads) + ", head_dim " + std::to_string(s.head_dim) +
                      "); need kv_len >= q_len >= 1 and heads divisible by kv_heads");
  }
}

// Query rows per block of the blocked (prefill/training) path: a multiple of every ISA's GEMM tile
// height (6 for AVX2, 8 for AVX-512, 4 for SSE2), so the score products run on full tiles. A block
// only computes the keys its last row sees, so with T = 256 the causal products cost 64 % of the
// full T×T ones (48 rows: blocks end at 48, 96, …, 256).
constexpr int64_t kQueryBlock = 48;

// One query row's softmax over scores[first..last] (scaled first), in place: p_j for j in the
// range, 0 for the other columns [0, columns). Returns the log-sum-exp of the scaled scores.
PILLOW_VECTOR_CLONES float row_softmax_in_place(float* __restrict__ scores, int64_t first, int64_t last,
                                                int64_t columns, float scale) {
  float max_score = -std::numeric_limits<float>::infinity();
  for (int64_t j = first; j <= last; ++j) max_score = std::max(max_score, scores[j] * scale);
  float sum = 0.0f;
  for (int64_t j = first; j <= last; ++j) {
    const float e = fast_exp(scores[j] * scale - max_score);
    scores[j] = e;
    sum += e;
  }
  const float inverse = 1.0f / sum;
  for (int64_t j = 0; j < first; ++j) scores[j] = 0.0f;
  for (int64_t j = first; j <= last; ++j) scores[j] *= inverse;
  for (int64_t j = last + 1; j < columns; ++j) scores[j] = 0.0f;
  return max_score + std::log(sum);
}

// One query row of the backward: p_j = exp(scale·s_j − lse) and ds_j = p_j·(dp_j − delta)·scale for
// the keys j <= last; both 0 past it (up to `columns`). s becomes p, dp becomes ds.
PILLOW_VECTOR_CLONES void row_probability_gradients(float* __restrict__ s, float* __restrict__ dp, float row_lse,
                                                    float delta, float scale, int64_t last, int64_t columns) {
  for (int64_t j = 0; j <= last; ++j) {
    const float probability = fast_exp(s[j] * scale - row_lse);
    s[j] = probability;
    dp[j] = probability * (dp[j] - delta) * scale;
  }
  for (int64_t j = last + 1; j < columns; ++j) {
    s[j] = 0.0f;
    dp[j] = 0.0f;
  }
}

PILLOW_VECTOR_CLONES float dot(const float* __restrict__ a, const float* __restrict__ b, int64_t n) {
  float partial[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int l = 0; l < 8; ++l) partial[l] += a[i + l] * b[i + l];
  }
  float sum = ((partial[0] + partial[4]) + (partial[1] + partial[5])) + ((partial[2] + partial[6]) + (partial[3] + partial[7]));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// scores[j] = scale · q·k_j for j <= last, keys read in place as rows `stride` floats apart (the
// KV cache layout). Decode's few query rows use this: a GEMM over one to four rows would pack more
// than it computes. Eight partial sums vectorise over d.
PILLOW_VECTOR_CLONES void row_scores_in_place(float* __restrict__ scores, const float* __restrict__ q,
                                              const float* __restrict__ k, int64_t last, int64_t stride, int64_t D,
                                              float scale) {
  for (int64_t j = 0; j <= last; ++j) scores[j] = dot(q, k + j * stride, D) * scale;
}

// One query row: softmax over scores[0..last] and out = Σ p_j v_j. Returns the log-sum-exp.
PILLOW_VECTOR_CLONES float row_softmax_values(float* __restrict__ out, float* __restrict__ scores,
                                              const float* __restrict__ v, int64_t last, int64_t v_row_stride,
                                              int64_t D) {
  float max_score = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j <= last; ++j) max_score = std::max(max_score, scores[j]);
  for (int64_t j = 0; j <= last; ++j) scores[j] = fast_exp(scores[j] - max_score);
  float sum = 0.0f;
  for (int64_t j = 0; j <= last; ++j) sum += scores[j];
  const float inverse = 1.0f / sum;
  for (int64_t d = 0; d < D; ++d) out[d] = 0.0f;
  for (int64_t j = 0; j <= last; ++j) {
    const float p = scores[j] * inverse;
    const float* vj = v + j * v_row_stride;
    for (int64_t d = 0; d < D; ++d) out[d] += p * vj[d];
  }
  return max_score + std::log(sum);
}

#ifdef PILLOW_ATTENTION_AVX512
// GCC 12's avx512fintrin.h makes the "undefined" source operand of the unmasked intrinsics as
// `__m512 __Y = __Y;`, which -Wall reports once per inlined call; nothing here reads such a value.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#ifndef __clang__
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// fast_exp (ops/common/fast_exp.h) on 16 lanes: the same clamp, range reduction and polynomial.
PILLOW_AVX512_TARGET inline __m512 fast_exp16(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(0.5f)),
                                        _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
  const __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
}

// The 16 lane sums of a[0..15] as one vector (lane t = Σ a[t]): a transpose-and-add tree, 15
// adds and 30 shuffles for 16 dot products instead of 16 horizontal reductions.
PILLOW_AVX512_TARGET inline __m512 lane_sums16(const __m512* a) {
  __m512 pairs[8];
  for (int t = 0; t < 8; ++t) {
    // per 128-bit chunk: [a0+a2 | b0+b2 | a1+a3 | b1+b3] of a = a[2t], b = a[2t+1]
    pairs[t] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * t], a[2 * t + 1]), _mm512_unpackhi_ps(a[2 * t], a[2 * t + 1]));
  }
  __m512 quads[4];
  for (int t = 0; t < 4; ++t) {
    // per 128-bit chunk: that chunk's sums of keys 4t … 4t+3
    const __m512d x = _mm512_castps_pd(pairs[2 * t]), y = _mm512_castps_pd(pairs[2 * t + 1]);
    quads[t] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
  }
  // Across the four chunks: chunk c of the result is keys 4c … 4c+3 summed over all chunks.
  const __m512 low = _mm512_add_ps(_mm512_shuffle_f32x4(quads[0], quads[1], 0x88), _mm512_shuffle_f32x4(quads[0], quads[1], 0xdd));
  const __m512 high = _mm512_add_ps(_mm512_shuffle_f32x4(quads[2], quads[3], 0x88), _mm512_shuffle_f32x4(quads[2], quads[3], 0xdd));
  return _mm512_add_ps(_mm512_shuffle_f32x4(low, high, 0x88), _mm512_shuffle_f32x4(low, high, 0xdd));
}

// One head of one decode row, D = 16·kBlocks: out[D] = softmax(scale·q·kⱼᵀ)·v over keys j < keys,
// rows `stride` floats apart; scores[keys rounded up to 16] is scratch. Returns the log-sum-exp.
// Sixteen keys at a time: their dot products in sixteen registers, summed across lanes together;
// the weighted sum of values stays in kBlocks registers (the generic loop kept out[] in memory
// and loaded and stored it for every key).
template <int kBlocks>
PILLOW_AVX512_TARGET float decode_head_avx512(float* out, float* scores, const float* q, const float* k,
                                              const float* v, int64_t keys, int64_t stride, float scale) {
  __m512 query[kBlocks];
  for (int i = 0; i < kBlocks; ++i) query[i] = _mm512_loadu_ps(q + 16 * i);
  __m512 max_score = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t j0 = 0; j0 < keys; j0 += 16) {
    const int64_t n = std::min<int64_t>(16, keys - j0);
    __m512 dots[16];
    for (int t = 0; t < 16; ++t) {
      if (t >= n) {
        dots[t] = _mm512_setzero_ps();
        continue;
      }
      const float* key = k + (j0 + t) * stride;
      __m512 acc = _mm512_mul_ps(query[0], _mm512_loadu_ps(key));
      for (int i = 1; i < kBlocks; ++i) acc = _mm512_fmadd_ps(query[i], _mm512_loadu_ps(key + 16 * i), acc);
      dots[t] = acc;
    }
    const __mmask16 lanes = static_cast<__mmask16>((1u << n) - 1u);
    const __m512 block = _mm512_mul_ps(lane_sums16(dots), _mm512_set1_ps(scale));
    _mm512_mask_storeu_ps(scores + j0, lanes, block);
    max_score = _mm512_mask_max_ps(max_score, lanes, max_score, block);
  }
  const float row_max = _mm512_reduce_max_ps(max_score);
  const __m512 row_max16 = _mm512_set1_ps(row_max);
  __m512 sum = _mm512_setzero_ps();
  for (int64_t j0 = 0; j0 < keys; j0 += 16) {
    const int64_t n = std::min<int64_t>(16, keys - j0);
    const __mmask16 lanes = static_cast<__mmask16>((1u << n) - 1u);
    const __m512 e = fast_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(lanes, scores + j0), row_max16));
    _mm512_mask_storeu_ps(scores + j0, lanes, e);
    sum = _mm512_mask_add_ps(sum, lanes, sum, e);
  }
  const float total = _mm512_reduce_add_ps(sum);
  // Key j adds into accumulator set j % kSets: one set would chain every key's FMA on the last
  // one's (latency-bound at 4 cycles a key); the sets are summed in a fixed order at the end.
  constexpr int kSets = kBlocks <= 4 ? 4 : 2;
  __m512 acc[kSets][kBlocks];
  for (int set = 0; set < kSets; ++set) {
    for (int i = 0; i < kBlocks; ++i) acc[set][i] = _mm512_setzero_ps();
  }
  int64_t j = 0;
  for (; j + kSets <= keys; j += kSets) {
    for (int set = 0; set < kSets; ++set) {
      const __m512 weight = _mm512_set1_ps(scores[j + set]);
      const float* value = v + (j + set) * stride;
      for (int i = 0; i < kBlocks; ++i) acc[set][i] = _mm512_fmadd_ps(weight, _mm512_loadu_ps(value + 16 * i), acc[set][i]);
    }
  }
  for (int set = 0; j < keys; ++j, ++set) {
    const __m512 weight = _mm512_set1_ps(scores[j]);
    const float* value = v + j * stride;
    for (int i = 0; i < kBlocks; ++i) acc[set][i] = _mm512_fmadd_ps(weight, _mm512_loadu_ps(value + 16 * i), acc[set][i]);
  }
  const __m512 inverse = _mm512_set1_ps(1.0f / total);
  for (int i = 0; i < kBlocks; ++i) {
    __m512 value = acc[0][i];
    for (int set = 1; set < kSets; ++set) value = _mm512_add_ps(value, acc[set][i]);
    _mm512_storeu_ps(out + 16 * i, _mm512_mul_ps(value, inverse));
  }
  return row_max + std::log(total);
}
#pragma GCC diagnostic pop
#endif

// Head dimensions the AVX-512 decode path takes (multiples of 16 up to 128); others run the
// generic per-row functions.
bool decode_head_vectorised(int64_t D) {
#ifdef PILLOW_ATTENTION_AVX512
  return selected_isa() == CpuIsa::Avx512 && D % 16 == 0 && D >= 16 && D <= 128;
#else
  (void)D;
  return false;
#endif
}

// One head of one decode query: out[D] = softmax(scale·q·kⱼᵀ)·v over keys j < keys (rows `stride`
// floats apart). scores has room for keys rounded up to 16. Returns the log-sum-exp. The one
// definition of a decode row that attention_forward (q_len <= 4) and attention_decode_rows share,
// so continuous batching's rows give exactly the bits of each sequence alone.
float decode_head(float* out, float* scores, const float* q, const float* k, const float* v, int64_t keys,
                  int64_t stride, int64_t D, float scale, bool vectorised) {
#ifdef PILLOW_ATTENTION_AVX512
  if (vectorised) {
    switch (D / 16) {
      case 1: return decode_head_avx512<1>(out, scores, q, k, v, keys, stride, scale);
      case 2: return decode_head_avx512<2>(out, scores, q, k, v, keys, stride, scale);
      case 3: return decode_head_avx512<3>(out, scores, q, k, v, keys, stride, scale);
      case 4: return decode_head_avx512<4>(out, scores, q, k, v, keys, stride, scale);
      case 5: return decode_head_avx512<5>(out, scores, q, k, v, keys, stride, scale);
      case 6: return decode_head_avx512<6>(out, scores, q, k, v, keys, stride, scale);
      case 7: return decode_head_avx512<7>(out, scores, q, k, v, keys, stride, scale);
      default: return decode_head_avx512<8>(out, scores, q, k, v, keys, stride, scale);
    }
  }
#else
  (void)vectorised;
#endif
  row_scores_in_place(scores, q, k, keys - 1, stride, D, scale);
  return row_softmax_values(out, scores, v, keys - 1, stride, D);
}

// Scratch for decode_head's scores: keys rounded up to a whole vector of 16.
int64_t decode_scores_size(int64_t keys) { return (keys + 15) / 16 * 16; }

// A (sequence, head, query block) of the blocked forward, largest blocks first.
struct QueryBlock {
  int64_t bh, i0, i1;
};

}  // namespace

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const AttentionShape& s) {
  check("attention_forward", s);
  const int64_t D = s.head_dim, H = s.heads, KH = s.kv_heads, group = s.heads / s.kv_heads, L = s.kv_len;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  const int64_t offset = s.kv_len - s.q_len;
  auto first_key = [&](int64_t b, int64_t last) {
    return s.key_begin ? std::min<int64_t>(std::max<int32_t>(s.key_begin[b], 0), last) : 0;
  };
  if (s.q_len <= 4) {
    // Decode: a row at a time, keys read in place from the cache.
    const bool vectorised = decode_head_vectorised(D);
    parallel_for(s.batch * H * s.q_len, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, L * D)),
                 [&](int64_t begin, int64_t end) {
      std::vector<float> scores(static_cast<size_t>(decode_scores_size(L)));
      for (int64_t u = begin; u < end; ++u) {
        const int64_t bh = u / s.q_len, i = u % s.q_len;
        const int64_t b = bh / H, h = bh % H, kh = h / group;
        const float* qi = q + ((b * s.q_len + i) * H + h) * D;
        const int64_t last = offset + i;
        const int64_t first = first_key(b, last);
        const float* kb = k + (b * s.kv_batch_stride * KH + kh) * D;
        const float* vb = v + (b * s.kv_batch_stride * KH + kh) * D;
        const float row_lse = decode_head(out + ((b * s.q_len + i) * H + h) * D, scores.data(), qi,
                                          kb + first * KH * D, vb + first * KH * D, last - first + 1, KH * D, D,
                                          scale, vectorised);
        if (lse) lse[(b * H + h) * s.q_len + i] = row_lse;
      }
    });
    return;
  }
  // Prefill and training: per block of query rows, scores = Q·Kᵀ over the keys the block sees, a
  // softmax per row, out = P·V: two products on the GEMM micro-kernel instead of dot products
  // row by row (those ran the FMA units at a fraction of their rate: loads and stores per FMA).
  std::vector<QueryBlock> blocks;
  for (int64_t i0 = (s.q_len - 1) / kQueryBlock * kQueryBlock; i0 >= 0; i0 -= kQueryBlock) {
    for (int64_t bh = 0; bh < s.batch * H; ++bh) blocks.push_back({bh, i0, std::min(s.q_len, i0 + kQueryBlock)});
  }
  parallel_for_dynamic(static_cast<int64_t>(blocks.size()), 1, 2, [&](int64_t begin, int64_t end) {
    static thread_local std::vector<float> scores;
    for (int64_t u = begin; u < end; ++u) {
      const QueryBlock& block = blocks[static_cast<size_t>(u)];
      const int64_t b = block.bh / H, h = block.bh % H, kh = h / group, rows = block.i1 - block.i0;
      // Keys [c0, c1): from the first row's first key (first keys never decrease down the rows)
      // to the last row's last key.
      const int64_t c0 = first_key(b, offset + block.i0), c1 = offset + block.i1, columns = c1 - c0;
      if (static_cast<int64_t>(scores.size()) < rows * columns) scores.resize(static_cast<size_t>(rows * columns));
      const float* q_block = q + ((b * s.q_len + block.i0) * H + h) * D;
      const float* k_head = k + ((b * s.kv_batch_stride + c0) * KH + kh) * D;
      const float* v_head = v + ((b * s.kv_batch_stride + c0) * KH + kh) * D;
      gemm_on_this_thread(scores.data(), columns, rows, columns, f32_operand(q_block, H * D, 1),
                          f32_operand(k_head, KH * D, 1), D, false);
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t i = block.i0 + r, last = offset + i;
        const float row_lse = row_softmax_in_place(scores.data() + r * columns, first_key(b, last) - c0, last - c0,
                                                   columns, scale);
        if (lse) lse[(b * H + h) * s.q_len + i] = row_lse;
      }
      // out rows = P · V: B(n = d, k = j) = V[j][d].
      gemm_on_this_thread(out + ((b * s.q_len + block.i0) * H + h) * D, H * D, rows, D,
                          f32_operand(scores.data(), columns, 1), f32_operand(v_head, 1, KH * D), columns, false);
    }
  });
}

void attention_decode_rows(const AttentionDecodeRow* rows, int64_t row_count, int64_t heads, int64_t kv_heads,
                           int64_t head_dim) {
  if (row_count < 0 || heads < 1 || kv_heads < 1 || head_dim < 1 || heads % kv_heads != 0) {
    throw_shape_error("attention_decode_rows: need row_count >= 0, heads, kv_heads, head_dim >= 1, kv_heads | heads");
  }
  for (int64_t r = 0; r < row_count; ++r) {
    if (!rows[r].out || !rows[r].q || !rows[r].k || !rows[r].v || rows[r].kv_len < 1) {
      throw_argument_error("attention_decode_rows: row " + std::to_string(r) + " needs out, q, k, v and kv_len >= 1");
    }
  }
  const int64_t D = head_dim, H = heads, KH = kv_heads, group = heads / kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  int64_t longest = 1;
  for (int64_t r = 0; r < row_count; ++r) longest = std::max(longest, rows[r].kv_len);
  // attention_forward's decode row (decode_head): a row's result is the same bits as
  // attention_forward gives that sequence alone.
  const bool vectorised = decode_head_vectorised(D);
  parallel_for(row_count * H, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, longest * D)), [&](int64_t begin, int64_t end) {
    std::vector<float> scores(static_cast<size_t>(decode_scores_size(longest)));
    for (int64_t u = begin; u < end; ++u) {
      const int64_t r = u / H, h = u % H, kh = h / group;
      const AttentionDecodeRow& row = rows[r];
      decode_head(row.out + h * D, scores.data(), row.q + h * D, row.k + kh * D, row.v + kh * D, row.kv_len, KH * D,
                  D, scale, vectorised);
    }
  });
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                        const float* v, const float* out, const float* lse, const AttentionShape& s) {
  check("attention_backward", s);
  if (s.q_len != s.kv_len || s.kv_batch_stride != s.kv_len) {
    throw_shape_error("attention_backward: only the training form (q_len == kv_len == kv_batch_stride) is supported");
  }
  const int64_t T = s.q_len, D = s.head_dim, H = s.heads, KH = s.kv_heads, group = H / KH;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  // Key/value gradients: without GQA each head adds straight into dk and dv; with it, per query
  // head first (so heads of one group run in parallel), then summed over each group in a fixed
  // order (deterministic for any thread count). The per-head buffers are kept between calls: freed
  // and allocated again every layer of every step, they cost page faults and page clearing.
  const bool per_head = group > 1;
  // (thread_local names resolve per thread, so the parallel bodies below see them only through
  // these pointers, which point at the calling thread's buffers.)
  static thread_local std::vector<float> dk_storage, dv_storage;
  float* dk_heads = nullptr;
  float* dv_heads = nullptr;
  if (per_head) {
    dk_storage.assign(static_cast<size_t>(s.batch * H * T * D), 0.0f);
    dv_storage.assign(dk_storage.size(), 0.0f);
    dk_heads = dk_storage.data();
    dv_heads = dv_storage.data();
  } else {
    std::fill(dk, dk + s.batch * T * KH * D, 0.0f);
    std::fill(dv, dv + s.batch * T * KH * D, 0.0f);
  }
  // One (sequence, head) per unit: its query blocks all add into the head's dk and dv. Per block of
  // query rows [i0, i1) and the keys [0, i1) they see, with the probabilities recomputed from lse:
  //   S = Q·Kᵀ, dP = dO·Vᵀ  →  P = exp(scale·S − lse), dS = P ⊙ (dP − rowsum(dO ⊙ O))·scale
  //   dQ = dS·K,  dK += dSᵀ·Q,  dV += Pᵀ·dO
  parallel_for(s.batch * H, 1, [&](int64_t begin, int64_t end) {
    static thread_local std::vector<float> p, ds;
    if (static_cast<int64_t>(p.size()) < kQueryBlock * T) {
      p.resize(static_cast<size_t>(kQueryBlock * T));
      ds.resize(p.size());
    }
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / H, h = bh % H, kh = h / group;
      const float* k_head = k + (b * T * KH + kh) * D;
      const float* v_head = v + (b * T * KH + kh) * D;
      float* dk_head = per_head ? dk_heads + bh * T * D : dk + (b * T * KH + kh) * D;
      float* dv_head = per_head ? dv_heads + bh * T * D : dv + (b * T * KH + kh) * D;
      const int64_t ld_head = per_head ? D : KH * D;
      for (int64_t i0 = 0; i0 < T; i0 += kQueryBlock) {
        const int64_t i1 = std::min(T, i0 + kQueryBlock), rows = i1 - i0, columns = i1;
        const int64_t q_offset = ((b * T + i0) * H + h) * D;
        gemm_on_this_thread(p.data(), columns, rows, columns, f32_operand(q + q_offset, H * D, 1),
                            f32_operand(k_head, KH * D, 1), D, false);
        gemm_on_this_thread(ds.data(), columns, rows, columns, f32_operand(dout + q_offset, H * D, 1),
                            f32_operand(v_head, KH * D, 1), D, false);
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t i = i0 + r;
          const float delta = dot(dout + q_offset + r * H * D, out + q_offset + r * H * D, D);
          row_probability_gradients(p.data() + r * columns, ds.data() + r * columns, lse[(b * H + h) * T + i], delta,
                                    scale, i, columns);
        }
        // dQ rows = dS · K: B(n = d, k = j) = K[j][d].
        gemm_on_this_thread(dq + q_offset, H * D, rows, D, f32_operand(ds.data(), columns, 1),
                            f32_operand(k_head, 1, KH * D), columns, false);
        // dK[j] += Σ_i dS[i][j]·Q[i], dV[j] += Σ_i P[i][j]·dO[i]: A(m = j, k = i) = dS[i][j].
        gemm_on_this_thread(dk_head, ld_head, columns, D, f32_operand(ds.data(), 1, columns),
                            f32_operand(q + q_offset, 1, H * D), rows, true);
        gemm_on_this_thread(dv_head, ld_head, columns, D, f32_operand(p.data(), 1, columns),
                            f32_operand(dout + q_offset, 1, H * D), rows, true);
      }
    }
  });
  if (!per_head) return;
  parallel_for(s.batch * T, std::max<int64_t>(1, 4096 / (KH * D)), [&](int64_t begin, int64_t end) {
    for (int64_t bt = begin; bt < end; ++bt) {
      const int64_t b = bt / T, t = bt % T;
      for (int64_t kh = 0; kh < KH; ++kh) {
        float* dkr = dk + (bt * KH + kh) * D;
        float* dvr = dv + (bt * KH + kh) * D;
        std::memset(dkr, 0, sizeof(float) * D);
        std::memset(dvr, 0, sizeof(float) * D);
        for (int64_t g = 0; g < group; ++g) {
          const int64_t h = kh * group + g;
          const float* src_k = dk_heads + ((b * H + h) * T + t) * D;
          const float* src_v = dv_heads + ((b * H + h) * T + t) * D;
          for (int64_t d = 0; d < D; ++d) {
            dkr[d] += src_k[d];
            dvr[d] += src_v[d];
          }
        }
      }
    }
  });
}

}  // namespace pillow
