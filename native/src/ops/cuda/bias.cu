// CUDA twins of ops/cpu/bias.cc. Both sides do the same additions in the same order (the backward
// sums each column's rows from the first), so the results are equal bit for bit.
#include <string>

#include "ops/cuda/cuda_launch.h"
#include "ops/cuda/kernel_launch.h"
#include "ops/cuda/model_ops_cuda.h"
#include "runtime/errors.h"

namespace pillow {

namespace {

__global__ void bias_forward_kernel(float* y, const float* bias, int64_t rows, int64_t width) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < rows * width) y[i] += bias[i % width];
}

// One thread per column: rows in order, as the CPU loop.
__global__ void bias_backward_kernel(float* dbias, const float* dy, int64_t rows, int64_t width) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= width) return;
  float sum = dbias[i];
  for (int64_t r = 0; r < rows; ++r) sum += dy[r * width + i];
  dbias[i] = sum;
}

void check(const char* op, const void* out, const void* in, int64_t rows, int64_t width) {
  if (rows < 1 || width < 1) throw_shape_error(std::string(op) + ": rows and width must be >= 1");
  if (out == nullptr || in == nullptr) throw_argument_error(std::string(op) + ": null pointer argument");
}

}  // namespace

void bias_forward_cuda(float* y, const float* bias, int64_t rows, int64_t width) {
  check("bias_forward (cuda)", y, bias, rows, width);
  launch_kernel("bias_forward_kernel", bias_forward_kernel, grid_for(rows * width), kThreads, 0, y, bias, rows, width);
}

void bias_backward_cuda(float* dbias, const float* dy, int64_t rows, int64_t width) {
  check("bias_backward (cuda)", dbias, dy, rows, width);
  launch_kernel("bias_backward_kernel", bias_backward_kernel, grid_for(width), kThreads, 0, dbias, dy, rows, width);
}

}  // namespace pillow
