// CUDA twin of ops/cpu/embedding.cc: out[N, H] = table[tokens[n]]; backward scatter-adds with atomics.
#include <string>

#include "ops/cuda/cuda_launch.h"
#include "ops/cuda/kernel_launch.h"
#include "ops/cuda/model_ops_cuda.h"
#include "runtime/errors.h"

namespace pillow {

namespace {

void check_tokens(const char* op, const int32_t* tokens, int64_t count, int64_t vocab, int64_t hidden) {
  if (count < 1 || vocab < 1 || hidden < 1) throw_shape_error(std::string(op) + ": count, vocab and hidden must be >= 1");
  const std::vector<int32_t> host = copy_to_host(tokens, count, op);
  for (int64_t n = 0; n < count; ++n) {
    if (host[n] < 0 || host[n] >= vocab) {
      throw_argument_error(std::string(op) + ": token id " + std::to_string(host[n]) + " at position " + std::to_string(n) +
                           " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
    }
  }
}

__global__ void embedding_forward_kernel(float* out, const int32_t* tokens, const float* table, int64_t count,
                                         int64_t hidden) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count * hidden) return;
  const int64_t n = i / hidden, h = i % hidden;
  out[i] = table[static_cast<int64_t>(tokens[n]) * hidden + h];
}

__global__ void embedding_backward_kernel(float* dtable, const float* dout, const int32_t* tokens, int64_t count,
                                          int64_t hidden) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count * hidden) return;
  const int64_t n = i / hidden, h = i % hidden;
  atomicAdd(&dtable[static_cast<int64_t>(tokens[n]) * hidden + h], dout[i]);
}

}  // namespace

void embedding_forward_cuda(float* out, const int32_t* tokens, const float* table, int64_t count, int64_t vocab,
                            int64_t hidden) {
  check_tokens("embedding_forward (cuda)", tokens, count, vocab, hidden);
  launch_kernel("embedding_forward_kernel", embedding_forward_kernel, grid_for(count * hidden), kThreads, 0, out, tokens, table, count, hidden);
}

void embedding_backward_cuda(float* dtable, const float* dout, const int32_t* tokens, int64_t count, int64_t vocab,
                             int64_t hidden) {
  check_tokens("embedding_backward (cuda)", tokens, count, vocab, hidden);
  launch_kernel("embedding_backward_kernel", embedding_backward_kernel, grid_for(count * hidden), kThreads, 0, dtable, dout, tokens, count, hidden);
}

}  // namespace pillow
