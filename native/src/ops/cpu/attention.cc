#include "ops/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "ops/common/fast_exp.h"
#include "runtime/errors.h"
#include "runtime/thread_pool.h"

// The hot loops are compiled twice, for x86-64-v3 (AVX2 + FMA) and the baseline, and picked at
// load time (GCC/Clang function multi-versioning), since this file is built with generic flags.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PILLOW_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define PILLOW_VECTOR_CLONES
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

// Query rows visited in the order 0, T−1, 1, T−2, …: contiguous chunks of this order carry equal
// causal work, so parallel_for's static split stays balanced.
inline int64_t balanced_row(int64_t t, int64_t rows) { return (t % 2 == 0) ? t / 2 : rows - 1 - t / 2; }

// kt[(b·KH + kh)·D + d][j] = x[b, j, kh, d] for j < kv_len: keys (or values) of one head as rows of
// length kv_len, so score loops run over contiguous j and vectorise.
void transpose_heads(float* kt, const float* x, const AttentionShape& s) {
  const int64_t D = s.head_dim, KH = s.kv_heads, L = s.kv_len;
  parallel_for(s.batch * KH, 1, [&](int64_t begin, int64_t end) {
    for (int64_t bk = begin; bk < end; ++bk) {
      const int64_t b = bk / KH, kh = bk % KH;
      float* out = kt + bk * D * L;
      const float* in = x + (b * s.kv_batch_stride * KH + kh) * D;
      for (int64_t j = 0; j < L; ++j) {
        const float* row = in + j * KH * D;
        for (int64_t d = 0; d < D; ++d) out[d * L + j] = row[d];
      }
    }
  });
}

// scores[j] = scale · q·k_j for j <= last, from the transposed keys kt[D][L].
PILLOW_VECTOR_CLONES void row_scores(float* __restrict__ scores, const float* __restrict__ q,
                                     const float* __restrict__ kt, int64_t last, int64_t L, int64_t D, float scale) {
  for (int64_t j = 0; j <= last; ++j) scores[j] = 0.0f;
  for (int64_t d = 0; d < D; ++d) {
    const float qd = q[d] * scale;
    const float* row = kt + d * L;
    for (int64_t j = 0; j <= last; ++j) scores[j] += qd * row[j];
  }
}

// scores[j] = scale · q·k_j for j <= last, keys read in place as rows `stride` floats apart (the
// KV cache layout). Decode's few query rows use this: transposing every cached key of every layer
// for each new token would copy the whole cache per token. Eight partial sums vectorise over d.
PILLOW_VECTOR_CLONES void row_scores_in_place(float* __restrict__ scores, const float* __restrict__ q,
                                              const float* __restrict__ k, int64_t last, int64_t stride, int64_t D,
                                              float scale) {
  for (int64_t j = 0; j <= last; ++j) {
    const float* kj = k + j * stride;
    float partial[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    int64_t d = 0;
    for (; d + 8 <= D; d += 8) {
      for (int i = 0; i < 8; ++i) partial[i] += q[d + i] * kj[d + i];
    }
    float dot = ((partial[0] + partial[4]) + (partial[1] + partial[5])) + ((partial[2] + partial[6]) + (partial[3] + partial[7]));
    for (; d < D; ++d) dot += q[d] * kj[d];
    scores[j] = dot * scale;
  }
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

// The backward of one (sequence, head): every query row i, keys j <= i. dq rows are written,
// dk_head / dv_head [T, D] accumulated.
// One key row's share of the rank-1 updates; restrict lets the compiler vectorise over d.
inline void key_row_update(float* __restrict__ dq, float* __restrict__ dk, float* __restrict__ dv,
                           const float* __restrict__ k, const float* __restrict__ q, const float* __restrict__ g,
                           float ds, float p, int64_t D) {
  for (int64_t d = 0; d < D; ++d) {
    dq[d] += ds * k[d];
    dk[d] += ds * q[d];
    dv[d] += p * g[d];
  }
}

inline void probabilities(float* __restrict__ p, float* __restrict__ dp, float row_lse, float delta, float scale,
                          int64_t count) {
  for (int64_t j = 0; j < count; ++j) {
    const float probability = fast_exp(p[j] - row_lse);
    p[j] = probability;
    dp[j] = probability * (dp[j] - delta) * scale;  // ds_j
  }
}

inline void two_scores(float* __restrict__ p, float* __restrict__ dp, const float* __restrict__ krow,
                       const float* __restrict__ vrow, float qd, float gd, int64_t count) {
  for (int64_t j = 0; j < count; ++j) {
    p[j] += qd * krow[j];
    dp[j] += gd * vrow[j];
  }
}

PILLOW_VECTOR_CLONES void head_backward(float* dq, float* dk_head, float* dv_head, float* __restrict__ p,
                                        float* __restrict__ dp, const float* dout, const float* q, const float* k,
                                        const float* kt, const float* vt, const float* out, const float* lse,
                                        int64_t T, int64_t D, int64_t q_row_stride, int64_t kv_row_stride,
                                        float scale) {
  for (int64_t i = 0; i < T; ++i) {
    const float* qi = q + i * q_row_stride;
    const float* doi = dout + i * q_row_stride;
    const float* oi = out + i * q_row_stride;
    float* dqi = dq + i * q_row_stride;
    float delta = 0.0f;
    for (int64_t d = 0; d < D; ++d) delta += doi[d] * oi[d];
    for (int64_t j = 0; j <= i; ++j) {
      p[j] = 0.0f;
      dp[j] = 0.0f;
    }
    for (int64_t d = 0; d < D; ++d) two_scores(p, dp, kt + d * T, vt + d * T, qi[d] * scale, doi[d], i + 1);
    probabilities(p, dp, lse[i], delta, scale, i + 1);
    for (int64_t d = 0; d < D; ++d) dqi[d] = 0.0f;
    for (int64_t j = 0; j <= i; ++j) {
      key_row_update(dqi, dk_head + j * D, dv_head + j * D, k + j * kv_row_stride, qi, doi, dp[j], p[j], D);
    }
  }
}

}  // namespace

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const AttentionShape& s) {
  check("attention_forward", s);
  const int64_t D = s.head_dim, H = s.heads, KH = s.kv_heads, group = s.heads / s.kv_heads, L = s.kv_len;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  const int64_t offset = s.kv_len - s.q_len;
  // Few query rows (decode): keys read in place. Many (prefill, training): keys transposed once so
  // the score loops run over contiguous keys.
  const bool in_place = s.q_len <= 4;
  std::vector<float> kt(in_place ? 0 : static_cast<size_t>(s.batch * KH * D * L));
  if (!in_place) transpose_heads(kt.data(), k, s);
  const int64_t units = s.batch * H * s.q_len;
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, L * D));
  parallel_for(units, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(static_cast<size_t>(L));
    for (int64_t u = begin; u < end; ++u) {
      const int64_t bh = u / s.q_len;
      const int64_t i = balanced_row(u % s.q_len, s.q_len);
      const int64_t b = bh / H, h = bh % H, kh = h / group;
      const float* qi = q + ((b * s.q_len + i) * H + h) * D;
      const float* vb = v + (b * s.kv_batch_stride * KH + kh) * D;
      const int64_t last = offset + i;  // causal: keys first..last
      const int64_t first = s.key_begin ? std::min<int64_t>(std::max<int32_t>(s.key_begin[b], 0), last) : 0;
      if (in_place) {
        const float* kb = k + (b * s.kv_batch_stride * KH + kh) * D;
        row_scores_in_place(scores.data(), qi, kb + first * KH * D, last - first, KH * D, D, scale);
      } else {
        const float* kth = kt.data() + (b * KH + kh) * D * L;
        row_scores(scores.data(), qi, kth + first, last - first, L, D, scale);
      }
      const float row_lse = row_softmax_values(out + ((b * s.q_len + i) * H + h) * D, scores.data(),
                                               vb + first * KH * D, last - first, KH * D, D);
      if (lse) lse[(b * H + h) * s.q_len + i] = row_lse;
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
  std::vector<float> kt(static_cast<size_t>(s.batch * KH * D * T)), vt(kt.size());
  transpose_heads(kt.data(), k, s);
  transpose_heads(vt.data(), v, s);
  // Key/value gradients per query head first (so heads of one group run in parallel), then summed
  // over each group in a fixed order (deterministic for any thread count).
  std::vector<float> dk_heads(static_cast<size_t>(s.batch * H * T * D), 0.0f);
  std::vector<float> dv_heads(static_cast<size_t>(s.batch * H * T * D), 0.0f);
  parallel_for(s.batch * H, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> p(static_cast<size_t>(T)), dp(static_cast<size_t>(T));
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / H, h = bh % H, kh = h / group;
      const int64_t q_offset = (b * T * H + h) * D;
      head_backward(dq + q_offset, dk_heads.data() + bh * T * D, dv_heads.data() + bh * T * D, p.data(), dp.data(),
                    dout + q_offset, q + q_offset, k + (b * T * KH + kh) * D, kt.data() + (b * KH + kh) * D * T,
                    vt.data() + (b * KH + kh) * D * T, out + q_offset, lse + (b * H + h) * T, T, D, H * D, KH * D,
                    scale);
    }
  });
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
          const float* src_k = dk_heads.data() + ((b * H + h) * T + t) * D;
          const float* src_v = dv_heads.data() + ((b * H + h) * T + t) * D;
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
