// CUDA port of ops/cpu/matmul.cc: same signature, device pointers.
// out[T, out_features] = x[T, in_features] · w[out_features, in_features]ᵀ
#include <string>

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/kernel_launch.h"
#include "ops/cuda/matmul_cuda.h"
#include "runtime/errors.h"

namespace pillow {

namespace {

constexpr int kTile = 16;

// One 16x16 output tile per block; both operands are staged through shared memory along k.
__global__ void matmul_forward_kernel(float* out, const float* x, const float* w, int64_t tokens, int64_t in_features,
                                      int64_t out_features) {
  __shared__ float x_tile[kTile][kTile + 1];
  __shared__ float w_tile[kTile][kTile + 1];
  const int64_t t = static_cast<int64_t>(blockIdx.y) * kTile + threadIdx.y;
  const int64_t o = static_cast<int64_t>(blockIdx.x) * kTile + threadIdx.x;
  const int64_t w_row = static_cast<int64_t>(blockIdx.x) * kTile + threadIdx.y;
  float acc = 0.0f;
  for (int64_t k0 = 0; k0 < in_features; k0 += kTile) {
    const int64_t k = k0 + threadIdx.x;
    x_tile[threadIdx.y][threadIdx.x] = (t < tokens && k < in_features) ? x[t * in_features + k] : 0.0f;
    w_tile[threadIdx.y][threadIdx.x] = (w_row < out_features && k < in_features) ? w[w_row * in_features + k] : 0.0f;
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTile; ++kk) acc += x_tile[threadIdx.y][kk] * w_tile[threadIdx.x][kk];
    __syncthreads();
  }
  if (t < tokens && o < out_features) out[t * out_features + o] = acc;
}

}  // namespace

void matmul_forward_cuda(float* out, const float* x, const float* w, int64_t tokens, int64_t in_features,
                         int64_t out_features) {
  if (tokens < 1 || in_features < 1 || out_features < 1) {
    throw_shape_error("matmul (cuda): tokens, inFeatures and outFeatures must be >= 1");
  }
  const dim3 block(kTile, kTile);
  const dim3 grid(static_cast<unsigned>((out_features + kTile - 1) / kTile),
                  static_cast<unsigned>((tokens + kTile - 1) / kTile));
  launch_kernel("matmul_forward_kernel", matmul_forward_kernel, grid, block, 0, out, x, w, tokens, in_features, out_features);
}

}  // namespace pillow
