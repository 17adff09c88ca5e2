// The emulated CUDA runtime (PILLOW_CUDA=emulate): what the .cu sources of ops/cuda/ include as
// <cuda_runtime.h> when the host C++ compiler builds them. It is test infrastructure — slow is
// fine, wrong is not. A launch runs the grid's blocks one after another; each CUDA thread of a
// block is a fiber with its own stack (emulated_runtime.cc says why not an OS thread), with a
// barrier for __syncthreads and a per-warp exchange for shuffles, ballots and warp reductions.
// __shared__ variables are function statics: because one block runs at a time (launches are
// serialised), a static is exactly one block's shared memory.
// Device memory is host memory that the emulation tracks, so a host pointer handed to a kernel or
// a copy in the wrong direction fails as on a GPU, and ASan sees every out-of-bounds access.
#pragma once
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __restrict__

// ---------------------------------------------------------------- runtime types
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInvalidMemcpyDirection = 21,
  cudaErrorNoDevice = 100,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchOutOfResources = 701,
  cudaErrorLaunchFailure = 719,
};

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};

struct uint3 {
  unsigned x, y, z;
};

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};

using cudaStream_t = struct CUstream_emulated*;

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  int warpSize;
  int maxThreadsPerBlock;
  int maxThreadsDim[3];
  int maxGridSize[3];
  int major, minor;
  int multiProcessorCount;
};

// The built-in index variables: each emulated CUDA thread is one CPU thread.
inline thread_local uint3 threadIdx{0, 0, 0};
inline thread_local uint3 blockIdx{0, 0, 0};
inline thread_local dim3 blockDim{1, 1, 1};
inline thread_local dim3 gridDim{1, 1, 1};
constexpr int warpSize = 32;

// ---------------------------------------------------------------- host API (emulated_runtime.cc)
cudaError_t cudaMalloc(void** pointer, size_t bytes);
cudaError_t cudaFree(void* pointer);
cudaError_t cudaMemcpy(void* destination, const void* source, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* destination, const void* source, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* pointer, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void* pointer, int value, size_t bytes, cudaStream_t stream = nullptr);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* properties, int device);
cudaError_t cudaRuntimeGetVersion(int* version);
const char* cudaGetErrorString(cudaError_t error);
const char* cudaGetErrorName(cudaError_t error);

template <typename T>
cudaError_t cudaMalloc(T** pointer, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(pointer), bytes);
}

namespace pillow::cuda_emulation {

// Limits of the emulated device (those of sm_80/sm_90 without opt-in shared memory).
constexpr unsigned kMaxThreadsPerBlock = 1024;
constexpr unsigned kMaxBlockDim[3] = {1024, 1024, 64};
constexpr unsigned kMaxGridDim[3] = {2147483647u, 65535u, 65535u};
constexpr size_t kMaxSharedBytesPerBlock = 48 * 1024;

// Whether [pointer, pointer + bytes) lies inside one live cudaMalloc allocation.
bool is_device_range(const void* pointer, size_t bytes);

// What the last failed launch or fault was about (kernel, block, reason); empty when none. Reading it clears it.
std::string take_fault_detail();

// A kernel still running after this many seconds is stopped at its next barrier or collective and
// its launch fails (cudaErrorLaunchFailure): a kernel that never ends becomes an error a test can
// see. Default 600 s, or PILLOW_CUDA_EMULATION_TIME_LIMIT_S.
void set_kernel_time_limit(double seconds);


// Runs body once per CUDA thread of every block of grid, as described at the top of this file.
cudaError_t run_grid(const char* kernel, dim3 grid, dim3 block, size_t dynamic_shared_bytes,
                     const std::function<void()>& body);

// Records a launch refused before any block ran (e.g. a host pointer argument).
cudaError_t refuse_launch(const char* kernel, cudaError_t error, const char* reason);

// This block's dynamic shared memory (the launch's third configuration argument).
void* dynamic_shared_memory();

// Kernel-side barriers and warp collectives. Each throws to unwind a block that the emulation
// aborted (a deadlock or a misused collective elsewhere in the block); run_grid catches it.
void sync_threads();
int sync_threads_count(int predicate);
void sync_warp(unsigned mask);
// Every lane of `mask` contributes `bits`; all 32 lanes' values come back (lanes outside the mask: 0).
void warp_gather(unsigned mask, uint64_t bits, uint64_t* lanes_out);
// The calling thread's lane within its warp; fault() stops the whole block with a reason.
unsigned lane_id();
[[noreturn]] void fault(const char* reason);

template <typename T>
uint64_t to_bits(T value) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "warp collectives move values of at most 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  return bits;
}

template <typename T>
T from_bits(uint64_t bits) {
  T value;
  std::memcpy(&value, &bits, sizeof(T));
  return value;
}

// A shuffle: every lane reads the value of source(lane), or keeps its own when the source falls
// outside its width-segment. Reading a lane outside `mask` is undefined on a GPU: a fault here.
template <typename T, typename Source>
T shuffle(unsigned mask, T value, int width, Source source) {
  if (width < 1 || width > 32 || (width & (width - 1)) != 0) fault("shuffle width must be a power of two in [1, 32]");
  uint64_t lanes[32];
  warp_gather(mask, to_bits(value), lanes);
  const int lane = static_cast<int>(lane_id());
  const int segment = lane & ~(width - 1);
  const int from = source(lane);
  if (from < segment || from >= segment + width || from == lane) return value;
  if (((mask >> from) & 1u) == 0) fault("shuffle reads a lane that is not in its mask");
  return from_bits<T>(lanes[from]);
}

// Launches kernel with arguments converted to its parameter types (copied, as a launch copies them).
// Pointer arguments must be null or point into device memory, as on a GPU without unified memory.
template <typename... Params, typename... Args>
cudaError_t launch(const char* name, void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes,
                   Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "a kernel launch passes one argument per parameter");
  std::tuple<std::decay_t<Params>...> parameters(std::forward<Args>(args)...);
  bool host_pointer = false;
  std::apply(
      [&](const auto&... parameter) {
        auto check = [&](const auto& value) {
          if constexpr (std::is_pointer_v<std::decay_t<decltype(value)>>) {
            if (value != nullptr && !is_device_range(value, 1)) host_pointer = true;
          }
        };
        (check(parameter), ...);
      },
      parameters);
  if (host_pointer) return refuse_launch(name, cudaErrorIllegalAddress, "a pointer argument is not device memory");
  return run_grid(name, grid, block, shared_bytes, [&] {
    std::tuple<std::decay_t<Params>...> copy = parameters;  // each thread's own by-value parameters
    std::apply(kernel, copy);
  });
}

}  // namespace pillow::cuda_emulation

// ---------------------------------------------------------------- device built-ins
inline void __syncthreads() { pillow::cuda_emulation::sync_threads(); }
inline int __syncthreads_count(int predicate) { return pillow::cuda_emulation::sync_threads_count(predicate); }
inline int __syncthreads_or(int predicate) { return pillow::cuda_emulation::sync_threads_count(predicate) > 0; }
inline int __syncthreads_and(int predicate) {
  return pillow::cuda_emulation::sync_threads_count(predicate) ==
         static_cast<int>(blockDim.x * blockDim.y * blockDim.z);
}
inline void __syncwarp(unsigned mask = 0xffffffffu) { pillow::cuda_emulation::sync_warp(mask); }
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }

template <typename T>
T __shfl_sync(unsigned mask, T value, int source_lane, int width = 32) {
  return pillow::cuda_emulation::shuffle(mask, value, width, [&](int lane) {
    return (lane & ~(width - 1)) + (source_lane & (width - 1));
  });
}
template <typename T>
T __shfl_down_sync(unsigned mask, T value, unsigned delta, int width = 32) {
  return pillow::cuda_emulation::shuffle(mask, value, width, [&](int lane) { return lane + static_cast<int>(delta); });
}
template <typename T>
T __shfl_up_sync(unsigned mask, T value, unsigned delta, int width = 32) {
  return pillow::cuda_emulation::shuffle(mask, value, width, [&](int lane) { return lane - static_cast<int>(delta); });
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T value, int lane_mask, int width = 32) {
  return pillow::cuda_emulation::shuffle(mask, value, width, [&](int lane) { return lane ^ lane_mask; });
}

unsigned __ballot_sync(unsigned mask, int predicate);
int __any_sync(unsigned mask, int predicate);
int __all_sync(unsigned mask, int predicate);
unsigned __reduce_add_sync(unsigned mask, unsigned value);
unsigned __reduce_min_sync(unsigned mask, unsigned value);
unsigned __reduce_max_sync(unsigned mask, unsigned value);

// Atomics: device memory is host memory, so the compiler's atomic built-ins do it; float and
// double add by compare-and-swap, as sm_60 hardware without native double atomics did.
template <typename T>
T __emulated_atomic_add(T* address, T value) {
  if constexpr (std::is_integral_v<T>) {
    return __atomic_fetch_add(address, value, __ATOMIC_SEQ_CST);
  } else {
    using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
    Bits* bits = reinterpret_cast<Bits*>(address);
    Bits expected = __atomic_load_n(bits, __ATOMIC_SEQ_CST);
    for (;;) {
      T old;
      std::memcpy(&old, &expected, sizeof(T));
      const T updated = old + value;
      Bits desired;
      std::memcpy(&desired, &updated, sizeof(T));
      if (__atomic_compare_exchange_n(bits, &expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) return old;
    }
  }
}
inline int atomicAdd(int* address, int value) { return __emulated_atomic_add(address, value); }
inline unsigned atomicAdd(unsigned* address, unsigned value) { return __emulated_atomic_add(address, value); }
inline unsigned long long atomicAdd(unsigned long long* address, unsigned long long value) {
  return __emulated_atomic_add(address, value);
}
inline float atomicAdd(float* address, float value) { return __emulated_atomic_add(address, value); }
inline double atomicAdd(double* address, double value) { return __emulated_atomic_add(address, value); }
template <typename T>
T atomicMax(T* address, T value) {
  T old = __atomic_load_n(address, __ATOMIC_SEQ_CST);
  while (old < value && !__atomic_compare_exchange_n(address, &old, value, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
  }
  return old;
}
template <typename T>
T atomicMin(T* address, T value) {
  T old = __atomic_load_n(address, __ATOMIC_SEQ_CST);
  while (old > value && !__atomic_compare_exchange_n(address, &old, value, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
  }
  return old;
}
template <typename T>
T atomicExch(T* address, T value) {
  return __atomic_exchange_n(address, value, __ATOMIC_SEQ_CST);
}
template <typename T>
T atomicCAS(T* address, T compare, T value) {
  __atomic_compare_exchange_n(address, &compare, value, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return compare;
}

// Bit casts and the math the kernels call that plain C++ spells differently.
inline unsigned __float_as_uint(float value) { return pillow::cuda_emulation::from_bits<unsigned>(pillow::cuda_emulation::to_bits(value)); }
inline float __uint_as_float(unsigned value) { return pillow::cuda_emulation::from_bits<float>(pillow::cuda_emulation::to_bits(value)); }
inline int __float_as_int(float value) { return pillow::cuda_emulation::from_bits<int>(pillow::cuda_emulation::to_bits(value)); }
inline float __int_as_float(int value) { return pillow::cuda_emulation::from_bits<float>(pillow::cuda_emulation::to_bits(value)); }
inline float rsqrtf(float value) { return 1.0f / std::sqrt(value); }
inline float __expf(float value) { return std::exp(value); }
inline float __logf(float value) { return std::log(value); }
inline float __fdividef(float a, float b) { return a / b; }
inline int __popc(unsigned value) { return __builtin_popcount(value); }
inline int __ffs(int value) { return __builtin_ffs(value); }
inline int __clz(int value) { return value == 0 ? 32 : __builtin_clz(static_cast<unsigned>(value)); }
using std::isfinite;
using std::isinf;
using std::isnan;
template <typename T>
constexpr T min(T a, T b) {
  return b < a ? b : a;
}
template <typename T>
constexpr T max(T a, T b) {
  return a < b ? b : a;
}
