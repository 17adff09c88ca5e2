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
#include "runtime/errors.h"
#include "runtime/thread_pool.h"


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
    parallel_for(s.batch * H * s.q_len, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, L * D)),
                 [&](int64_t begin, int64_t end) {
      std::vector<float> scores(static_cast<size_t>(L));
      for (int64_t u = begin; u < end; ++u) {
        const int64_t bh = u / s.q_len, i = u % s.q_len;
        const int64_t b = bh / H, h = bh % H, kh = h / group;
        const float* qi = q + ((b * s.q_len + i) * H + h) * D;
        const int64_t last = offset + i;
        const int64_t first = first_key(b, last);
        const float* kb = k + (b * s.kv_batch_stride * KH + kh) * D;
        const float* vb = v + (b * s.kv_batch_stride * KH + kh) * D;
        row_scores_in_place(scores.data(), qi, kb + first * KH * D, last - first, KH * D, D, scale);
        const float row_lse = row_softmax_values(out + ((b * s.q_len + i) * H + h) * D, scores.data(),
                                                 vb + first * KH * D, last - first, KH * D, D);
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
  // The per-row functions of attention_forward's decode path, in the same order: a row's result is
  // the same bits as attention_forward gives that sequence alone.
  parallel_for(row_count * H, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, longest * D)), [&](int64_t begin, int64_t end) {
    std::vector<float> scores(static_cast<size_t>(longest));
    for (int64_t u = begin; u < end; ++u) {
      const int64_t r = u / H, h = u % H, kh = h / group;
      const AttentionDecodeRow& row = rows[r];
      const int64_t last = row.kv_len - 1;
      row_scores_in_place(scores.data(), row.q + h * D, row.k + kh * D, last, KH * D, D, scale);
      row_softmax_values(row.out + h * D, scores.data(), row.v + kh * D, last, KH * D, D);
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
