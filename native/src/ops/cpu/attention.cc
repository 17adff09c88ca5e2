#include "ops/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

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

inline float dot(const float* a, const float* b, int64_t n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

inline void axpy(float* y, float a, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

// Query rows visited in the order 0, T−1, 1, T−2, …: contiguous chunks of this order carry equal
// causal work, so parallel_for's static split stays balanced.
inline int64_t balanced_row(int64_t t, int64_t rows) { return (t % 2 == 0) ? t / 2 : rows - 1 - t / 2; }

}  // namespace

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const AttentionShape& s) {
  check("attention_forward", s);
  const int64_t D = s.head_dim, H = s.heads, KH = s.kv_heads, group = s.heads / s.kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  const int64_t offset = s.kv_len - s.q_len;
  const int64_t units = s.batch * H * s.q_len;
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, s.kv_len * D));
  parallel_for(units, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(static_cast<size_t>(s.kv_len));
    for (int64_t u = begin; u < end; ++u) {
      const int64_t bh = u / s.q_len;
      const int64_t i = balanced_row(u % s.q_len, s.q_len);
      const int64_t b = bh / H, h = bh % H, kh = h / group;
      const float* qi = q + ((b * s.q_len + i) * H + h) * D;
      const float* kb = k + (b * s.kv_batch_stride * KH + kh) * D;
      const float* vb = v + (b * s.kv_batch_stride * KH + kh) * D;
      const int64_t row_stride = KH * D;
      const int64_t last = offset + i;  // causal: keys 0..last
      float max_score = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j <= last; ++j) {
        const float score = dot(qi, kb + j * row_stride, D) * scale;
        scores[j] = score;
        max_score = std::max(max_score, score);
      }
      float sum = 0.0f;
      for (int64_t j = 0; j <= last; ++j) {
        scores[j] = std::exp(scores[j] - max_score);
        sum += scores[j];
      }
      float* oi = out + ((b * s.q_len + i) * H + h) * D;
      std::memset(oi, 0, sizeof(float) * D);
      const float inverse = 1.0f / sum;
      for (int64_t j = 0; j <= last; ++j) axpy(oi, scores[j] * inverse, vb + j * row_stride, D);
      if (lse) lse[(b * H + h) * s.q_len + i] = max_score + std::log(sum);
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
  // Key/value gradients per query head first (so heads of one group can run in parallel), then
  // summed over each group in a fixed order.
  std::vector<float> dk_heads(static_cast<size_t>(s.batch * H * T * D), 0.0f);
  std::vector<float> dv_heads(static_cast<size_t>(s.batch * H * T * D), 0.0f);
  parallel_for(s.batch * H, 1, [&](int64_t begin, int64_t end) {
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / H, h = bh % H, kh = h / group;
      const int64_t kv_stride = KH * D;
      const float* kb = k + (b * T * KH + kh) * D;
      const float* vb = v + (b * T * KH + kh) * D;
      float* dkh = dk_heads.data() + bh * T * D;
      float* dvh = dv_heads.data() + bh * T * D;
      for (int64_t i = 0; i < T; ++i) {
        const float* qi = q + ((b * T + i) * H + h) * D;
        const float* doi = dout + ((b * T + i) * H + h) * D;
        const float* oi = out + ((b * T + i) * H + h) * D;
        float* dqi = dq + ((b * T + i) * H + h) * D;
        std::memset(dqi, 0, sizeof(float) * D);
        const float row_lse = lse[(b * H + h) * T + i];
        const float delta = dot(doi, oi, D);
        for (int64_t j = 0; j <= i; ++j) {
          const float* kj = kb + j * kv_stride;
          const float* vj = vb + j * kv_stride;
          const float p = std::exp(dot(qi, kj, D) * scale - row_lse);
          const float dp = dot(doi, vj, D);
          const float ds = p * (dp - delta) * scale;
          axpy(dqi, ds, kj, D);
          axpy(dkh + j * D, ds, qi, D);
          axpy(dvh + j * D, p, doi, D);
        }
      }
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
