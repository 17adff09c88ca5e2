// CUDA twin of ops/cpu/attention.cc: one warp per query row. The forward runs an online softmax over
// the keys (flash-attention style, nothing of size T×T is stored); the backward recomputes the
// probabilities from the saved log-sum-exp and accumulates dk/dv with atomics (which also sums the
// query heads of a GQA group).
#include <string>

#include "ops/cuda/cuda_launch.h"
#include "ops/cuda/kernel_launch.h"
#include "ops/cuda/model_ops_cuda.h"
#include "runtime/errors.h"

namespace pillow {

namespace {

constexpr int kMaxDimsPerLane = 8;  // head_dim <= 256
constexpr int kWarpsPerBlock = 4;

void check(const char* op, const AttentionShape& s) {
  if (s.batch < 1 || s.q_len < 1 || s.kv_len < s.q_len || s.kv_batch_stride < s.kv_len || s.heads < 1 ||
      s.kv_heads < 1 || s.head_dim < 1 || s.heads % s.kv_heads != 0) {
    throw_shape_error(std::string(op) + ": invalid shape; need kv_len >= q_len >= 1 and heads divisible by kv_heads");
  }
  if (s.head_dim > 32 * kMaxDimsPerLane) throw_shape_error(std::string(op) + ": head_dim above 256 is not supported");
}

__global__ void attention_forward_kernel(float* out, float* lse, const float* q, const float* k, const float* v,
                                         AttentionShape s, float scale) {
  const int lane = threadIdx.x % 32;
  const int64_t unit = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  if (unit >= s.batch * s.heads * s.q_len) return;
  const int64_t i = unit % s.q_len, bh = unit / s.q_len, b = bh / s.heads, h = bh % s.heads;
  const int64_t kh = h / (s.heads / s.kv_heads), D = s.head_dim, KVD = s.kv_heads * D;
  const float* qi = q + ((b * s.q_len + i) * s.heads + h) * D;
  const float* kb = k + b * s.kv_batch_stride * KVD + kh * D;
  const float* vb = v + b * s.kv_batch_stride * KVD + kh * D;
  float qv[kMaxDimsPerLane], acc[kMaxDimsPerLane];
  for (int t = 0; t < kMaxDimsPerLane; ++t) {
    const int64_t d = lane + 32 * t;
    qv[t] = d < D ? qi[d] * scale : 0.0f;
    acc[t] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  const int64_t last = s.kv_len - s.q_len + i;
  const int64_t first = s.key_begin ? min(max(static_cast<int64_t>(s.key_begin[b]), int64_t{0}), last) : 0;
  for (int64_t j = first; j <= last; ++j) {
    const float* kj = kb + j * KVD;
    float partial = 0.0f;
    for (int t = 0; t < kMaxDimsPerLane; ++t) {
      const int64_t d = lane + 32 * t;
      if (d < D) partial += qv[t] * kj[d];
    }
    const float score = warp_sum(partial);
    const float m_new = fmaxf(m, score);
    const float correction = expf(m - m_new);
    const float p = expf(score - m_new);
    l = l * correction + p;
    const float* vj = vb + j * KVD;
    for (int t = 0; t < kMaxDimsPerLane; ++t) {
      const int64_t d = lane + 32 * t;
      if (d < D) acc[t] = acc[t] * correction + p * vj[d];
    }
    m = m_new;
  }
  float* oi = out + ((b * s.q_len + i) * s.heads + h) * D;
  for (int t = 0; t < kMaxDimsPerLane; ++t) {
    const int64_t d = lane + 32 * t;
    if (d < D) oi[d] = acc[t] / l;
  }
  if (lse && lane == 0) lse[(b * s.heads + h) * s.q_len + i] = m + logf(l);
}

__global__ void attention_backward_kernel(float* dq, float* dk, float* dv, const float* dout, const float* q,
                                          const float* k, const float* v, const float* out, const float* lse,
                                          AttentionShape s, float scale) {
  const int lane = threadIdx.x % 32;
  const int64_t T = s.q_len;
  const int64_t unit = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  if (unit >= s.batch * s.heads * T) return;
  const int64_t i = unit % T, bh = unit / T, b = bh / s.heads, h = bh % s.heads;
  const int64_t kh = h / (s.heads / s.kv_heads), D = s.head_dim, KVD = s.kv_heads * D;
  const int64_t row = ((b * T + i) * s.heads + h) * D;
  float qv[kMaxDimsPerLane], gv[kMaxDimsPerLane], dqv[kMaxDimsPerLane];
  float delta_part = 0.0f;
  for (int t = 0; t < kMaxDimsPerLane; ++t) {
    const int64_t d = lane + 32 * t;
    qv[t] = d < D ? q[row + d] : 0.0f;
    gv[t] = d < D ? dout[row + d] : 0.0f;
    dqv[t] = 0.0f;
    if (d < D) delta_part += gv[t] * out[row + d];
  }
  const float delta = warp_sum(delta_part);
  const float row_lse = lse[(b * s.heads + h) * T + i];
  const float* kb = k + b * T * KVD + kh * D;
  const float* vb = v + b * T * KVD + kh * D;
  for (int64_t j = 0; j <= i; ++j) {
    const float* kj = kb + j * KVD;
    const float* vj = vb + j * KVD;
    float score_part = 0.0f, dp_part = 0.0f;
    for (int t = 0; t < kMaxDimsPerLane; ++t) {
      const int64_t d = lane + 32 * t;
      if (d < D) {
        score_part += qv[t] * kj[d];
        dp_part += gv[t] * vj[d];
      }
    }
    const float p = expf(warp_sum(score_part) * scale - row_lse);
    const float ds = p * (warp_sum(dp_part) - delta) * scale;
    float* dkj = dk + (b * T + j) * KVD + kh * D;
    float* dvj = dv + (b * T + j) * KVD + kh * D;
    for (int t = 0; t < kMaxDimsPerLane; ++t) {
      const int64_t d = lane + 32 * t;
      if (d < D) {
        dqv[t] += ds * kj[d];
        atomicAdd(&dkj[d], ds * qv[t]);
        atomicAdd(&dvj[d], p * gv[t]);
      }
    }
  }
  for (int t = 0; t < kMaxDimsPerLane; ++t) {
    const int64_t d = lane + 32 * t;
    if (d < D) dq[row + d] = dqv[t];
  }
}

unsigned blocks_for(int64_t units) { return static_cast<unsigned>((units + kWarpsPerBlock - 1) / kWarpsPerBlock); }

}  // namespace

void attention_forward_cuda(float* out, float* lse, const float* q, const float* k, const float* v,
                            const AttentionShape& shape) {
  check("attention_forward (cuda)", shape);  // shape.key_begin, when given, is a device pointer
  const float scale = 1.0f / sqrtf(static_cast<float>(shape.head_dim));
  launch_kernel("attention_forward_kernel", attention_forward_kernel, blocks_for(shape.batch * shape.heads * shape.q_len), 32 * kWarpsPerBlock, 0, out, lse, q, k, v, shape, scale);
}

void attention_backward_cuda(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                             const float* v, const float* out, const float* lse, const AttentionShape& shape) {
  check("attention_backward (cuda)", shape);
  if (shape.q_len != shape.kv_len || shape.kv_batch_stride != shape.kv_len) {
    throw_shape_error("attention_backward (cuda): only the training form (q_len == kv_len == kv_batch_stride) is supported");
  }
  const size_t kv_bytes = sizeof(float) * shape.batch * shape.kv_len * shape.kv_heads * shape.head_dim;
  check_cuda(cudaMemset(dk, 0, kv_bytes), "attention_backward dk clear");
  check_cuda(cudaMemset(dv, 0, kv_bytes), "attention_backward dv clear");
  const float scale = 1.0f / sqrtf(static_cast<float>(shape.head_dim));
  launch_kernel("attention_backward_kernel", attention_backward_kernel, blocks_for(shape.batch * shape.heads * shape.q_len), 32 * kWarpsPerBlock, 0, dq, dk, dv, dout, q, k, v, out, lse, shape, scale);
}

}  // namespace pillow
