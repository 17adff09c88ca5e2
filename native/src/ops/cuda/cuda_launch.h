// Small helpers shared by the model ops' CUDA twins: grid sizes and block-wide reductions.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ops/cuda/cuda_check.h"

namespace pillow {

constexpr int kThreads = 256;

inline unsigned grid_for(int64_t count) { return static_cast<unsigned>((count + kThreads - 1) / kThreads); }

// Copies n int32 values from the device (for argument checks on the host before a launch).
inline std::vector<int32_t> copy_to_host(const int32_t* device, int64_t n, const char* what) {
  std::vector<int32_t> host(static_cast<size_t>(n));
  check_cuda(cudaMemcpy(host.data(), device, sizeof(int32_t) * n, cudaMemcpyDeviceToHost), what);
  return host;
}

__device__ inline float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ inline float warp_max(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Sum over a block of kThreads threads; every thread gets the result. scratch: kThreads / 32 floats.
__device__ inline float block_sum(float v, float* scratch) {
  v = warp_sum(v);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float total = 0.0f;
  for (int w = 0; w < static_cast<int>(blockDim.x / 32); ++w) total += scratch[w];
  return total;
}

__device__ inline float block_max(float v, float* scratch) {
  v = warp_max(v);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float best = scratch[0];
  for (int w = 1; w < static_cast<int>(blockDim.x / 32); ++w) best = fmaxf(best, scratch[w]);
  return best;
}

}  // namespace pillow
