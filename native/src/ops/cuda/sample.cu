// CUDA port of ops/cpu/sample.cc: one block per row. Same semantics (penalties, temperature,
// top-k, top-p, min-p as thresholds on z, the same splitmix64 uniform per row), sort-free: the
// top-k and top-p thresholds are found by bisection over the order-preserving bit pattern of z,
// each step one block-wide count or mass reduction. The draw walks tokens in index order via a
// block-wide prefix sum, as the CPU walks them sequentially. Exp is the device expf, so a draw
// that lands within float rounding of a boundary may differ from the CPU's.
#include <cuda_runtime.h>

#include <cmath>
#include <string>
#include <vector>

#include "ops/common/sampling_math.h"
#include "ops/cpu/sample.h"
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/kernel_launch.h"
#include "ops/cuda/sample_cuda.h"
#include "runtime/errors.h"

namespace pillow {

namespace {

constexpr int kThreads = 512;

// Order-preserving map of a float to uint32 (larger float -> larger key).
__device__ __forceinline__ uint32_t order_key(float value) {
  const uint32_t bits = __float_as_uint(value);
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

__device__ __forceinline__ float key_value(uint32_t key) {
  const uint32_t bits = (key & 0x80000000u) ? (key & 0x7fffffffu) : ~key;
  return __uint_as_float(bits);
}

// The upper midpoint of [low, high] for a bisection that keeps `low` when the test passes. In 64
// bits: over the whole key range high - low + 1 is 2^32, which wraps to 0 in 32 bits, so mid
// stayed 0 and the top-k loop never ended (the first top-k request hung the GPU).
__device__ __forceinline__ uint32_t bisection_midpoint(uint32_t low, uint32_t high) {
  return static_cast<uint32_t>(low + (static_cast<uint64_t>(high) - low + 1) / 2);
}

template <typename T>
__device__ T block_sum(T value, T* shared) {
  for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_down_sync(0xffffffffu, value, offset);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) shared[warp] = value;
  __syncthreads();
  if (warp == 0) {
    value = lane < (kThreads / 32) ? shared[lane] : T(0);
    for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_down_sync(0xffffffffu, value, offset);
    if (lane == 0) shared[0] = value;
  }
  __syncthreads();
  const T total = shared[0];
  __syncthreads();
  return total;
}

__device__ float block_max(float value, float* shared) {
  for (int offset = 16; offset > 0; offset >>= 1) value = fmaxf(value, __shfl_down_sync(0xffffffffu, value, offset));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) shared[warp] = value;
  __syncthreads();
  if (warp == 0) {
    value = lane < (kThreads / 32) ? shared[lane] : -INFINITY;
    for (int offset = 16; offset > 0; offset >>= 1) value = fmaxf(value, __shfl_down_sync(0xffffffffu, value, offset));
    if (lane == 0) shared[0] = value;
  }
  __syncthreads();
  const float result = shared[0];
  __syncthreads();
  return result;
}

__device__ int64_t block_min_index(int64_t value, int64_t* shared) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    const int64_t other = __shfl_down_sync(0xffffffffu, value, offset);
    value = other < value ? other : value;
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) shared[warp] = value;
  __syncthreads();
  if (warp == 0) {
    value = lane < (kThreads / 32) ? shared[lane] : INT64_MAX;
    for (int offset = 16; offset > 0; offset >>= 1) {
      const int64_t other = __shfl_down_sync(0xffffffffu, value, offset);
      value = other < value ? other : value;
    }
    if (lane == 0) shared[0] = value;
  }
  __syncthreads();
  const int64_t result = shared[0];
  __syncthreads();
  return result;
}

// Pass 1: copy, finite check (the first bad index per row goes to bad_index), penalties applied by
// a later kernel; counts[row * vocab + id] is the number of times id appeared before.
__global__ void prepare_kernel(float* z, int64_t* bad_index, const float* logits, int64_t vocab) {
  __shared__ int64_t shared_index[kThreads / 32];
  const int64_t row = blockIdx.x;
  int64_t first_bad = INT64_MAX;
  for (int64_t i = threadIdx.x; i < vocab; i += kThreads) {
    const float value = logits[row * vocab + i];
    if (!isfinite(value) && i < first_bad) first_bad = i;
    z[row * vocab + i] = value;
  }
  first_bad = block_min_index(first_bad, shared_index);
  if (threadIdx.x == 0) bad_index[row] = first_bad;
}

__global__ void count_kernel(int32_t* counts, const int32_t* history, int64_t count, int64_t row, int64_t vocab) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) atomicAdd(&counts[row * vocab + history[i]], 1);
}

__global__ void penalty_kernel(float* z, const int32_t* counts, const float* logits, int64_t total, SamplingOptions options) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < total && counts[i] > 0) {
    z[i] = penalised_logit(logits[i], counts[i], options.repetition_penalty, options.frequency_penalty,
                           options.presence_penalty);
  }
}

__global__ void draw_kernel(int32_t* tokens, float* logprobs, float* z, const uint64_t* seeds, int64_t vocab,
                            SamplingOptions options) {
  __shared__ float shared_float[kThreads / 32];
  __shared__ double shared_double[kThreads / 32];
  __shared__ int64_t shared_index[kThreads / 32];
  __shared__ unsigned long long shared_count[kThreads / 32];
  __shared__ double prefix[kThreads];
  const int64_t row = blockIdx.x;
  float* zr = z + row * vocab;

  float local_max = -INFINITY;
  for (int64_t i = threadIdx.x; i < vocab; i += kThreads) local_max = fmaxf(local_max, zr[i]);
  const float max_value = block_max(local_max, shared_float);
  int64_t first = INT64_MAX;
  for (int64_t i = threadIdx.x; i < vocab; i += kThreads)
    if (zr[i] == max_value && i < first) first = i;
  const int64_t best = block_min_index(first, shared_index);
  if (options.temperature == 0.0f) {
    if (threadIdx.x == 0) {
      tokens[row] = static_cast<int32_t>(best);
      logprobs[row] = 0.0f;
    }
    return;
  }
  const float inverse_temperature = 1.0f / options.temperature;
  for (int64_t i = threadIdx.x; i < vocab; i += kThreads) zr[i] = (zr[i] - max_value) * inverse_temperature;
  __syncthreads();

  float threshold = -INFINITY;
  if (options.top_k > 0 && options.top_k < vocab) {
    // Largest key K with count(key(z) >= K) >= k: the k-th largest value itself.
    uint32_t low = 0, high = 0xffffffffu;
    while (low < high) {
      const uint32_t mid = bisection_midpoint(low, high);
      unsigned long long count = 0;
      for (int64_t i = threadIdx.x; i < vocab; i += kThreads) count += order_key(zr[i]) >= mid;
      count = block_sum(count, shared_count);
      if (count >= static_cast<unsigned long long>(options.top_k)) low = mid; else high = mid - 1;
    }
    threshold = key_value(low);
  }
  if (options.top_p < 1.0f) {
    double mass = 0;
    for (int64_t i = threadIdx.x; i < vocab; i += kThreads)
      if (zr[i] >= threshold) mass += expf(zr[i]);
    mass = block_sum(mass, shared_double);
    const double need = static_cast<double>(options.top_p) * mass;
    // Largest key K whose set {z >= value(K)} (within top-k) holds at least `need`.
    uint32_t low = order_key(threshold == -INFINITY ? -INFINITY : threshold), high = order_key(0.0f);
    while (low < high) {
      const uint32_t mid = bisection_midpoint(low, high);
      double kept = 0;
      for (int64_t i = threadIdx.x; i < vocab; i += kThreads)
        if (zr[i] >= threshold && order_key(zr[i]) >= mid) kept += expf(zr[i]);
      kept = block_sum(kept, shared_double);
      if (kept >= need) low = mid; else high = mid - 1;
    }
    threshold = fmaxf(threshold, key_value(low));
  }
  const bool min_p = options.min_p > 0.0f;
  // Each thread owns a contiguous chunk, so a prefix sum over threads walks tokens in index order.
  const int64_t chunk = (vocab + kThreads - 1) / kThreads;
  const int64_t begin = threadIdx.x * chunk;
  const int64_t end = begin + chunk < vocab ? begin + chunk : vocab;
  double local = 0;
  for (int64_t i = begin; i < end; ++i) {
    const float weight = expf(zr[i]);
    if (zr[i] >= threshold && (!min_p || weight >= options.min_p)) local += weight;
  }
  prefix[threadIdx.x] = local;
  __syncthreads();
  if (threadIdx.x == 0) {
    double running = 0;
    for (int t = 0; t < kThreads; ++t) {
      const double value = prefix[t];
      prefix[t] = running;
      running += value;
    }
    shared_double[0] = running;
  }
  __syncthreads();
  const double total = shared_double[0];
  const double target = uniform_from_seed(seeds[row], 0) * total;
  int64_t chosen = INT64_MAX;
  if (local > 0 && prefix[threadIdx.x] <= target && target < prefix[threadIdx.x] + local) {
    double cumulative = prefix[threadIdx.x];
    for (int64_t i = begin; i < end; ++i) {
      const float weight = expf(zr[i]);
      if (zr[i] >= threshold && (!min_p || weight >= options.min_p)) {
        cumulative += weight;
        chosen = i;
        if (cumulative > target) break;
      }
    }
  }
  chosen = block_min_index(chosen, shared_index);
  if (threadIdx.x == 0) {
    if (chosen == INT64_MAX) chosen = best;  // rounding fallback: the max always survives
    tokens[row] = static_cast<int32_t>(chosen);
    logprobs[row] = static_cast<float>(static_cast<double>(zr[chosen]) - log(total));
  }
}

}  // namespace

void sample_forward_cuda(int32_t* tokens, float* logprobs, const float* logits, int64_t rows, int64_t vocab,
                         const SamplingOptions& options, const uint64_t* seeds, const int32_t* const* previous_tokens,
                         const int64_t* previous_counts) {
  if (rows < 1 || vocab < 1) throw_shape_error("sample (cuda): rows and vocab must be >= 1");
  if (vocab > 2147483647) throw_shape_error("sample (cuda): vocab must fit in int32");
  if (rows > (int64_t{1} << 40) / vocab) throw_shape_error("sample (cuda): logits too large");
  if (tokens == nullptr || logprobs == nullptr || logits == nullptr || seeds == nullptr) {
    throw_argument_error("sample (cuda): null pointer argument");
  }
  check_sampling_options(options);  // the CPU op's checks and messages
  float* z = nullptr;
  int64_t* bad_index = nullptr;
  int32_t* counts = nullptr;
  auto release = [&] {
    cudaFree(z);
    cudaFree(bad_index);
    cudaFree(counts);
  };
  try {
    check_cuda(cudaMalloc(&z, static_cast<size_t>(rows * vocab) * sizeof(float)), "cudaMalloc z");
    check_cuda(cudaMalloc(&bad_index, static_cast<size_t>(rows) * sizeof(int64_t)), "cudaMalloc flags");
    launch_kernel("prepare_kernel", prepare_kernel, static_cast<unsigned>(rows), kThreads, 0, z, bad_index, logits, vocab);
    std::vector<int64_t> bad(static_cast<size_t>(rows));
    check_cuda(cudaMemcpy(bad.data(), bad_index, bad.size() * sizeof(int64_t), cudaMemcpyDeviceToHost), "copy flags");
    for (int64_t row = 0; row < rows; ++row) {
      if (bad[row] != INT64_MAX) {
        throw PillowError(kErrorNonFiniteLogits, "logits row " + std::to_string(row) +
                                                     " has a non-finite value (NaN or Infinity) at index " +
                                                     std::to_string(bad[row]));
      }
    }
    const bool penalise = previous_tokens != nullptr && (options.repetition_penalty != 1.0f ||
                                                         options.frequency_penalty != 0.0f || options.presence_penalty != 0.0f);
    if (penalise) {
      check_cuda(cudaMalloc(&counts, static_cast<size_t>(rows * vocab) * sizeof(int32_t)), "cudaMalloc counts");
      check_cuda(cudaMemset(counts, 0, static_cast<size_t>(rows * vocab) * sizeof(int32_t)), "cudaMemset counts");
      for (int64_t row = 0; row < rows; ++row) {
        const int64_t count = previous_counts[row];
        if (count <= 0) continue;
        // Token ids are checked on the device copy's host mirror: copy, check, then count.
        std::vector<int32_t> ids(static_cast<size_t>(count));
        check_cuda(cudaMemcpy(ids.data(), previous_tokens[row], ids.size() * sizeof(int32_t), cudaMemcpyDeviceToHost),
                   "copy previousTokens");
        for (int64_t i = 0; i < count; ++i) {
          if (ids[i] < 0 || ids[i] >= vocab) {
            throw_argument_error("sample (cuda): previousTokens[" + std::to_string(row) + "][" + std::to_string(i) +
                                 "] = " + std::to_string(ids[i]) + " is outside the vocabulary");
          }
        }
        launch_kernel("count_kernel", count_kernel, static_cast<unsigned>((count + 255) / 256), 256, 0, counts, previous_tokens[row], count, row, vocab);
      }
      const int64_t total = rows * vocab;
      launch_kernel("penalty_kernel", penalty_kernel, static_cast<unsigned>((total + 255) / 256), 256, 0, z, counts, logits, total, options);
    }
    launch_kernel("draw_kernel", draw_kernel, static_cast<unsigned>(rows), kThreads, 0, tokens, logprobs, z, seeds, vocab, options);
    check_cuda(cudaDeviceSynchronize(), "sample_forward_cuda");
  } catch (...) {
    release();
    throw;
  }
  release();
}

}  // namespace pillow
