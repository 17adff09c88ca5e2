// CUDA twin of ops/cpu/adamw.cc: one launch per tensor (the per-element update is ops/common/adamw_math.h)
// and a grid-stride squared norm accumulated in double.
#include <cmath>
#include <string>

#include "ops/common/adamw_math.h"
#include "ops/cuda/cuda_launch.h"
#include "ops/cuda/kernel_launch.h"
#include "ops/cuda/model_ops_cuda.h"
#include "runtime/errors.h"

namespace pillow {

namespace {

__global__ void adamw_kernel(float* param, float* m, float* v, const float* grad, int64_t size, float weight_decay,
                             AdamWHyper h) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < size) adamw_element(&param[i], &m[i], &v[i], grad[i], weight_decay, h);
}

__global__ void squared_norm_kernel(double* total, const float* grad, int64_t size) {
  __shared__ float scratch[kThreads / 32];
  float sum = 0.0f;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < size;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    sum += grad[i] * grad[i];
  }
  sum = block_sum(sum, scratch);
  if (threadIdx.x == 0) atomicAdd(total, static_cast<double>(sum));
}

}  // namespace

void adamw_update_cuda(const AdamWTensor* tensors, int64_t count, const AdamWOptions& o) {
  if (count < 0) throw_shape_error("adamw_update (cuda): count must be >= 0");
  const AdamWHyper h = checked_adamw_hyper(o, "adamw_update (cuda)");
  for (int64_t t = 0; t < count; ++t) {
    const AdamWTensor& x = tensors[t];
    if (x.size < 0 || (x.size > 0 && (!x.param || !x.grad || !x.m || !x.v))) {
      throw_argument_error("adamw_update (cuda): tensor " + std::to_string(t) + " has a missing buffer");
    }
    if (x.size == 0) continue;
    launch_kernel("adamw_kernel", adamw_kernel, grid_for(x.size), kThreads, 0, x.param, x.m, x.v, x.grad, x.size, x.weight_decay, h);
  }
}

double gradient_squared_norm_cuda(const float* const* grads, const int64_t* sizes, int64_t count) {
  double* total = nullptr;
  check_cuda(cudaMalloc(&total, sizeof(double)), "cudaMalloc (gradient norm)");
  double result = 0.0;
  try {
    check_cuda(cudaMemset(total, 0, sizeof(double)), "cudaMemset (gradient norm)");
    for (int64_t t = 0; t < count; ++t) {
      if (sizes[t] <= 0) continue;
      const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(1024, (sizes[t] + kThreads - 1) / kThreads));
      launch_kernel("squared_norm_kernel", squared_norm_kernel, blocks, kThreads, 0, total, grads[t], sizes[t]);
    }
    check_cuda(cudaMemcpy(&result, total, sizeof(double), cudaMemcpyDeviceToHost), "gradient norm copy");
  } catch (...) {
    cudaFree(total);
    throw;
  }
  cudaFree(total);
  return result;
}

}  // namespace pillow
