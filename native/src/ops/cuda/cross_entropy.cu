// CUDA twin of ops/cpu/cross_entropy.cc: one block per row (max, then Σ exp, then the gradient).
#include <string>

#include "ops/common/fast_exp.h"
#include "ops/cpu/cross_entropy.h"
#include "ops/cuda/cuda_launch.h"
#include "ops/cuda/kernel_launch.h"
#include "ops/cuda/model_ops_cuda.h"
#include "runtime/errors.h"

namespace pillow {

namespace {

int64_t check(const char* op, const int32_t* targets, int64_t rows, int64_t vocab) {
  if (rows < 1 || vocab < 1) throw_shape_error(std::string(op) + ": rows and vocab must be >= 1");
  const std::vector<int32_t> host = copy_to_host(targets, rows, op);
  int64_t counted = 0;
  for (int64_t n = 0; n < rows; ++n) {
    if (host[n] == kIgnoreIndex) continue;
    if (host[n] < 0 || host[n] >= vocab) {
      throw_argument_error(std::string(op) + ": label " + std::to_string(host[n]) + " at row " + std::to_string(n) +
                           " is outside the vocabulary [0, " + std::to_string(vocab) + ") and is not -100");
    }
    ++counted;
  }
  return counted;
}

// Row max and log Σ exp(x − max), block-wide.
__device__ void row_statistics(const float* x, int64_t vocab, float* scratch, float* max_out, float* log_sum_out) {
  float m = -INFINITY;
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) m = fmaxf(m, x[i]);
  m = block_max(m, scratch);
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) sum += fast_exp(x[i] - m);
  sum = block_sum(sum, scratch);
  *max_out = m;
  *log_sum_out = logf(sum);
}

__global__ void cross_entropy_forward_kernel(float* losses, const float* logits, const int32_t* targets, int64_t vocab) {
  __shared__ float scratch[kThreads / 32];
  const int64_t n = blockIdx.x;
  if (targets[n] == kIgnoreIndex) {
    if (threadIdx.x == 0) losses[n] = 0.0f;
    return;
  }
  const float* x = logits + n * vocab;
  float m, log_sum;
  row_statistics(x, vocab, scratch, &m, &log_sum);
  if (threadIdx.x == 0) losses[n] = (m + log_sum) - x[targets[n]];
}

__global__ void cross_entropy_backward_kernel(float* dlogits, const float* logits, const int32_t* targets,
                                              float loss_scale, int64_t vocab) {
  __shared__ float scratch[kThreads / 32];
  const int64_t n = blockIdx.x;
  float* d = dlogits + n * vocab;
  const int32_t target = targets[n];
  if (target == kIgnoreIndex) {
    for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) d[i] = 0.0f;
    return;
  }
  const float* x = logits + n * vocab;
  float m, log_sum;
  row_statistics(x, vocab, scratch, &m, &log_sum);
  __syncthreads();  // every thread has read x before d (which may alias it) is written
  const float shift = m + log_sum;
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) {
    d[i] = (fast_exp(x[i] - shift) - (i == target ? 1.0f : 0.0f)) * loss_scale;
  }
}

}  // namespace

int64_t cross_entropy_forward_cuda(float* losses, const float* logits, const int32_t* targets, int64_t rows,
                                   int64_t vocab) {
  const int64_t counted = check("cross_entropy_forward (cuda)", targets, rows, vocab);
  launch_kernel("cross_entropy_forward_kernel", cross_entropy_forward_kernel, static_cast<unsigned>(rows), kThreads, 0, losses, logits, targets, vocab);
  return counted;
}

void cross_entropy_backward_cuda(float* dlogits, const float* logits, const int32_t* targets, float loss_scale,
                                 int64_t rows, int64_t vocab) {
  check("cross_entropy_backward (cuda)", targets, rows, vocab);
  launch_kernel("cross_entropy_backward_kernel", cross_entropy_backward_kernel, static_cast<unsigned>(rows), kThreads, 0, dlogits, logits, targets, loss_scale, vocab);
}

}  // namespace pillow
