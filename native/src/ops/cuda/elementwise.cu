// CUDA twins of ops/cpu/swiglu.cc and ops/cpu/residual.cc (element-wise; math in ops/common).
#include "ops/common/activation_math.h"
#include "ops/cuda/cuda_launch.h"
#include "ops/cuda/kernel_launch.h"
#include "ops/cuda/model_ops_cuda.h"
#include "runtime/errors.h"

namespace pillow {

namespace {

__global__ void swiglu_forward_kernel(float* out, const float* gate, const float* up, int64_t count) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) out[i] = swiglu_value(gate[i], up[i]);
}

__global__ void swiglu_backward_kernel(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                                       int64_t count) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) swiglu_gradient(dout[i], gate[i], up[i], &dgate[i], &dup[i]);
}

__global__ void residual_forward_kernel(float* out, const float* a, const float* b, int64_t count) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) out[i] = a[i] + b[i];
}

__global__ void residual_backward_kernel(float* da, float* db, const float* dout, int64_t count) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  if (da) da[i] += dout[i];
  if (db) db[i] += dout[i];
}

}  // namespace

void swiglu_forward_cuda(float* out, const float* gate, const float* up, int64_t count) {
  if (count < 1) throw_shape_error("swiglu_forward (cuda): count must be >= 1");
  launch_kernel("swiglu_forward_kernel", swiglu_forward_kernel, grid_for(count), kThreads, 0, out, gate, up, count);
}

void swiglu_backward_cuda(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                          int64_t count) {
  if (count < 1) throw_shape_error("swiglu_backward (cuda): count must be >= 1");
  launch_kernel("swiglu_backward_kernel", swiglu_backward_kernel, grid_for(count), kThreads, 0, dgate, dup, dout, gate, up, count);
}

void residual_forward_cuda(float* out, const float* a, const float* b, int64_t count) {
  if (count < 1) throw_shape_error("residual_forward (cuda): count must be >= 1");
  launch_kernel("residual_forward_kernel", residual_forward_kernel, grid_for(count), kThreads, 0, out, a, b, count);
}

void residual_backward_cuda(float* da, float* db, const float* dout, int64_t count) {
  if (count < 1) throw_shape_error("residual_backward (cuda): count must be >= 1");
  launch_kernel("residual_backward_kernel", residual_backward_kernel, grid_for(count), kThreads, 0, da, db, dout, count);
}

}  // namespace pillow
