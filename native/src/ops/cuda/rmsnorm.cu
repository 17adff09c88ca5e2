// CUDA twin of ops/cpu/rmsnorm.cc: one block per row; dweight accumulated with atomics.
#include <string>

#include "ops/cuda/cuda_launch.h"
#include "ops/cuda/kernel_launch.h"
#include "ops/cuda/model_ops_cuda.h"
#include "runtime/errors.h"

namespace pillow {

namespace {

__global__ void rmsnorm_forward_kernel(float* out, float* rstd, const float* x, const float* weight, int64_t hidden,
                                       float eps) {
  __shared__ float scratch[kThreads / 32];
  const int64_t r = blockIdx.x;
  const float* xr = x + r * hidden;
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) sum += xr[i] * xr[i];
  sum = block_sum(sum, scratch);
  const float s = rsqrtf(sum / static_cast<float>(hidden) + eps);
  if (rstd && threadIdx.x == 0) rstd[r] = s;
  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) out[r * hidden + i] = xr[i] * s * weight[i];
}

__global__ void rmsnorm_backward_kernel(float* dx, float* dweight, const float* dout, const float* x,
                                        const float* weight, const float* rstd, int64_t hidden) {
  __shared__ float scratch[kThreads / 32];
  const int64_t r = blockIdx.x;
  const float* xr = x + r * hidden;
  const float* d = dout + r * hidden;
  const float s = rstd[r];
  float dot = 0.0f;
  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) dot += d[i] * weight[i] * xr[i];
  dot = block_sum(dot, scratch);
  const float c = dot * s * s * s / static_cast<float>(hidden);
  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) {
    dx[r * hidden + i] += s * d[i] * weight[i] - c * xr[i];
    if (dweight) atomicAdd(&dweight[i], d[i] * xr[i] * s);
  }
}

}  // namespace

void rmsnorm_forward_cuda(float* out, float* rstd, const float* x, const float* weight, int64_t rows, int64_t hidden,
                          float eps) {
  if (rows < 1 || hidden < 1) throw_shape_error("rmsnorm_forward (cuda): rows and hidden must be >= 1");
  if (!(eps > 0.0f)) throw_argument_error("rmsnorm_forward (cuda): eps must be > 0");
  launch_kernel("rmsnorm_forward_kernel", rmsnorm_forward_kernel, static_cast<unsigned>(rows), kThreads, 0, out, rstd, x, weight, hidden, eps);
}

void rmsnorm_backward_cuda(float* dx, float* dweight, const float* dout, const float* x, const float* weight,
                           const float* rstd, int64_t rows, int64_t hidden) {
  if (rows < 1 || hidden < 1) throw_shape_error("rmsnorm_backward (cuda): rows and hidden must be >= 1");
  launch_kernel("rmsnorm_backward_kernel", rmsnorm_backward_kernel, static_cast<unsigned>(rows), kThreads, 0, dx, dweight, dout, x, weight, rstd, hidden);
}

}  // namespace pillow
