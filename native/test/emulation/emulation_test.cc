// The CUDA emulation's own tests: the built-ins the kernels rely on, checked against hand-computed
// values, and the failures a real GPU run would show (bad launch configurations, host pointers,
// deadlocks, misused collectives, kernels that never end) reported as E_CUDA errors, never hangs.
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cuda/cuda_test_support.h"
#include "ops/cuda/kernel_launch.h"
#include "runtime/errors.h"
#include "test_harness.h"

using namespace pillow;
using namespace pillow_test;

namespace {

// out[global thread] = its linear block id · 10000 + its linear thread id; block-wide sum in shared memory.
__global__ void index_kernel(int* out, int* block_sums) {
  __shared__ int total;
  const int thread = threadIdx.x + threadIdx.y * blockDim.x + threadIdx.z * blockDim.x * blockDim.y;
  const int block = blockIdx.x + blockIdx.y * gridDim.x;
  const int threads = blockDim.x * blockDim.y * blockDim.z;
  if (thread == 0) total = 0;
  __syncthreads();
  atomicAdd(&total, thread);
  __syncthreads();
  out[block * threads + thread] = block * 10000 + thread;
  if (thread == 0) block_sums[block] = total;
}

// Each lane's results of the shuffle family, width 32 and width 8.
__global__ void shuffle_kernel(int* out) {
  const int lane = threadIdx.x % 32;
  const int v = 100 + static_cast<int>(threadIdx.x);
  int* o = out + threadIdx.x * 8;
  o[0] = __shfl_sync(0xffffffffu, v, 3);
  o[1] = __shfl_down_sync(0xffffffffu, v, 5);
  o[2] = __shfl_up_sync(0xffffffffu, v, 2);
  o[3] = __shfl_xor_sync(0xffffffffu, v, 1);
  o[4] = __shfl_down_sync(0xffffffffu, v, 3, 8);
  o[5] = static_cast<int>(__ballot_sync(0xffffffffu, lane % 3 == 0));
  o[6] = static_cast<int>(__reduce_add_sync(0xffffffffu, static_cast<unsigned>(lane)));
  o[7] = __any_sync(0xffffffffu, lane == 31) * 10 + __all_sync(0xffffffffu, lane < 31);
}

__global__ void dynamic_shared_kernel(float* out, int count) {
  PILLOW_DYNAMIC_SHARED(float, buffer);
  for (int i = threadIdx.x; i < count; i += blockDim.x) buffer[i] = static_cast<float>(i + blockIdx.x);
  __syncthreads();
  // Reversed through shared memory: only correct if every thread saw the others' writes.
  for (int i = threadIdx.x; i < count; i += blockDim.x) out[blockIdx.x * count + i] = buffer[count - 1 - i];
}

__global__ void atomic_kernel(float* float_total, unsigned long long* count_total, double* double_total) {
  atomicAdd(float_total, 0.5f);
  atomicAdd(count_total, 1ull);
  atomicAdd(double_total, 0.25);
}

__global__ void noop_kernel(float* out) {
  if (out != nullptr && threadIdx.x == 0 && blockIdx.x == 0) out[0] = 1.0f;
}

// Lane 0 waits at the block barrier while lanes 1..31 wait for it in a shuffle: a GPU hangs.
__global__ void deadlock_kernel(int* out) {
  if (threadIdx.x == 0) {
    __syncthreads();
  } else {
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, static_cast<int>(threadIdx.x), 1);
  }
}

// Odd lanes return, then the even ones shuffle with a full mask: undefined on a GPU.
__global__ void exited_lane_kernel(int* out) {
  if (threadIdx.x % 2 == 1) return;
  out[threadIdx.x] = __shfl_down_sync(0xffffffffu, static_cast<int>(threadIdx.x), 2);
}

// 1000 block-wide barriers: the cost of one __syncthreads in the emulation.
__global__ void barrier_kernel(int* out) {
  for (int i = 0; i < 1000; ++i) __syncthreads();
  if (threadIdx.x == 0) out[0] = 1;
}

__global__ void endless_kernel(int* out) {
  int rounds = 0;
  while (out[0] >= 0) {  // out[0] is 0 and never written: the loop does not end
    __syncthreads();
    ++rounds;
  }
  out[1] = rounds;
}

std::string cuda_error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const PillowError& e) {
    return std::string(e.code()) + ": " + e.what();
  }
  return "none";
}

bool contains(const std::string& text, const char* part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST(emulation_indices_blocks_and_shared_memory_follow_cuda) {
  const dim3 grid(3, 2), block(7, 3, 2);  // 42 threads: two warps, the second one partial
  const int threads = 42, blocks = 6;
  DeviceBuffer<int> out(threads * blocks), sums(blocks);
  launch_kernel("index_kernel", index_kernel, grid, block, 0, out.data(), sums.data());
  const auto host = out.to_host();
  for (int b = 0; b < blocks; ++b)
    for (int t = 0; t < threads; ++t) CHECK(host[b * threads + t] == b * 10000 + t);
  for (int sum : sums.to_host()) CHECK(sum == threads * (threads - 1) / 2);  // Σ 0..41, per block
}

TEST(emulation_warp_shuffles_ballots_and_reductions_match_their_definitions) {
  DeviceBuffer<int> out(64 * 8);
  launch_kernel("shuffle_kernel", shuffle_kernel, dim3(1), dim3(64), 0, out.data());
  const auto o = out.to_host();
  for (int t = 0; t < 64; ++t) {
    const int lane = t % 32, base = t - lane, v = 100 + t;
    CHECK(o[t * 8 + 0] == 100 + base + 3);
    CHECK(o[t * 8 + 1] == (lane + 5 < 32 ? v + 5 : v));
    CHECK(o[t * 8 + 2] == (lane >= 2 ? v - 2 : v));
    CHECK(o[t * 8 + 3] == 100 + base + (lane ^ 1));
    CHECK(o[t * 8 + 4] == ((lane % 8) + 3 < 8 ? v + 3 : v));  // segments of 8 lanes
    CHECK(static_cast<unsigned>(o[t * 8 + 5]) == 0x49249249u);  // lanes 0, 3, 6, ..., 30
    CHECK(o[t * 8 + 6] == 496);                                 // Σ 0..31
    CHECK(o[t * 8 + 7] == 10);                                  // any: yes; all lanes < 31: no
  }
}

TEST(emulation_dynamic_shared_memory_is_per_block_and_limited_like_the_device) {
  const int count = 300;
  DeviceBuffer<float> out(2 * count);
  launch_kernel("dynamic_shared_kernel", dynamic_shared_kernel, dim3(2), dim3(64), count * sizeof(float), out.data(), count);
  const auto host = out.to_host();
  for (int b = 0; b < 2; ++b)
    for (int i = 0; i < count; ++i) CHECK(host[b * count + i] == static_cast<float>(count - 1 - i + b));
  const std::string error = cuda_error_of([&] {
    launch_kernel("dynamic_shared_kernel", dynamic_shared_kernel, dim3(1), dim3(64), 49 * 1024, out.data(), count);
  });
  CHECK(contains(error, "E_CUDA") && contains(error, "invalid argument"));
}

TEST(emulation_atomics_add_across_threads_and_blocks) {
  DeviceBuffer<float> total(1);
  DeviceBuffer<unsigned long long> count(1);
  DeviceBuffer<double> double_total(1);
  check_cuda(cudaMemset(total.data(), 0, sizeof(float)), "memset");
  check_cuda(cudaMemset(count.data(), 0, sizeof(unsigned long long)), "memset");
  check_cuda(cudaMemset(double_total.data(), 0, sizeof(double)), "memset");
  launch_kernel("atomic_kernel", atomic_kernel, dim3(5), dim3(96), 0, total.data(), count.data(), double_total.data());
  CHECK(total.to_host()[0] == 240.0f);  // 480 · 0.5, exact in f32
  CHECK(count.to_host()[0] == 480u);
  CHECK(double_total.to_host()[0] == 120.0);
}

TEST(emulation_refuses_launch_configurations_the_device_refuses) {
  DeviceBuffer<float> out(1);
  for (const auto& config : {std::pair<dim3, dim3>{dim3(1), dim3(1025)}, {dim3(0), dim3(32)}, {dim3(1), dim3(1, 1, 65)},
                             {dim3(1, 65536), dim3(32)}, {dim3(1), dim3(64, 32)}}) {
    const std::string error =
        cuda_error_of([&] { launch_kernel("noop_kernel", noop_kernel, config.first, config.second, 0, out.data()); });
    CHECK(contains(error, "E_CUDA") && contains(error, "invalid configuration argument") && contains(error, "noop_kernel"));
  }
  launch_kernel("noop_kernel", noop_kernel, dim3(1), dim3(1024), 0, out.data());  // the limit itself is fine
  CHECK(out.to_host()[0] == 1.0f);
}

TEST(emulation_refuses_host_pointers_and_wrong_copy_directions) {
  std::vector<float> host(4, 0.0f);
  const std::string error = cuda_error_of([&] { launch_kernel("noop_kernel", noop_kernel, dim3(1), dim3(32), 0, host.data()); });
  CHECK(contains(error, "E_CUDA") && contains(error, "not device memory"));
  CHECK(host[0] == 0.0f);  // the kernel never ran
  DeviceBuffer<float> device(4);
  CHECK(cudaMemcpy(host.data(), device.data(), 16, cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
  CHECK(cudaMemcpy(device.data(), host.data(), 32, cudaMemcpyHostToDevice) == cudaErrorInvalidValue);  // past the end
  CHECK(cudaMemcpy(device.data(), host.data(), 16, cudaMemcpyHostToDevice) == cudaSuccess);
  CHECK(cudaFree(host.data()) == cudaErrorInvalidValue);
  cudaGetLastError();
}

TEST(emulation_reports_deadlocks_and_misused_collectives_instead_of_hanging) {
  DeviceBuffer<int> out(64);
  std::string error = cuda_error_of([&] { launch_kernel("deadlock_kernel", deadlock_kernel, dim3(2), dim3(64), 0, out.data()); });
  CHECK(contains(error, "unspecified launch failure") && contains(error, "deadlock") && contains(error, "block (0,0,0)"));
  error = cuda_error_of([&] { launch_kernel("exited_lane_kernel", exited_lane_kernel, dim3(1), dim3(32), 0, out.data()); });
  CHECK(contains(error, "unspecified launch failure") && (contains(error, "returned")));
  // The device is usable again afterwards.
  DeviceBuffer<int> lanes(32 * 8);
  launch_kernel("shuffle_kernel", shuffle_kernel, dim3(1), dim3(32), 0, lanes.data());
  CHECK(lanes.to_host()[0] == 103);
}

TEST(emulation_stops_a_kernel_that_never_ends_at_the_time_limit) {
  DeviceBuffer<int> out(2);
  check_cuda(cudaMemset(out.data(), 0, 2 * sizeof(int)), "memset");
  cuda_emulation::set_kernel_time_limit(0.5);
  std::string error;
  finishes_within(60, "the endless kernel", [&] {
    error = cuda_error_of([&] { launch_kernel("endless_kernel", endless_kernel, dim3(1), dim3(64), 0, out.data()); });
  });
  cuda_emulation::set_kernel_time_limit(0);  // back to the default
  CHECK(contains(error, "E_CUDA") && contains(error, "time limit") && contains(error, "endless_kernel"));
}

TEST(emulation_barrier_cost) {
  DeviceBuffer<int> out(1);
  const auto start = std::chrono::steady_clock::now();
  launch_kernel("barrier_kernel", barrier_kernel, dim3(1), dim3(512), 0, out.data());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("  1000 barriers of 512 threads: %.3f s\n", seconds);
  CHECK(out.to_host()[0] == 1);
}
