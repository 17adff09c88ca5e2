// The engine behind emulation/cuda_runtime.h: tracked device memory, the launch checks of the real
// runtime, and the blocks of a grid run one after another, each CUDA thread of a block as a fiber
// (its own stack, switched with swapcontext) on the launching CPU thread. A fiber runs until it
// reaches __syncthreads, a warp collective, or the kernel's end; a barrier or collective completes
// when its last participant arrives. Why fibers and not one OS thread per CUDA thread: on this
// project's busy 2-core hosts a 512-thread __syncthreads with OS threads cost 18-33 ms (load
// 90-150; futex wake-ups and scheduling of 512 threads), so one top-k sample row took ~5 s; a fiber
// switch costs well under a microsecond. Waiting fibers resume in ascending thread order after
// one barrier and in descending order after the next, so a kernel that reads another thread's
// shared-memory write without a barrier between them sees the wrong value in one of the two
// orders. A deadlock (fibers waiting, none runnable) and misused collectives are exact here: the
// launch fails with the reason, where a GPU would hang or compute garbage.
#include <ucontext.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/mman.h>

#include "cuda_runtime.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define PILLOW_FIBER_ASAN 1
#endif

namespace pillow::cuda_emulation {

namespace {

// ---------------------------------------------------------------- device memory
constexpr size_t kAlignment = 256;  // cudaMalloc's guarantee
constexpr size_t kDeviceMemoryBytes = size_t{16} << 30;  // what the emulated device reports

struct Allocations {
  std::mutex mutex;
  std::map<uintptr_t, size_t> ranges;  // begin -> bytes
  size_t total = 0;
};

Allocations& allocations() {
  static Allocations* instance = new Allocations();  // never destroyed: frees may run at exit
  return *instance;
}

thread_local cudaError_t last_error = cudaSuccess;  // per host thread, as the real runtime keeps it

cudaError_t record(cudaError_t error) {
  if (error != cudaSuccess) last_error = error;
  return error;
}

std::mutex& detail_mutex() {
  static std::mutex* instance = new std::mutex();
  return *instance;
}
std::string& detail() {
  static std::string* instance = new std::string();
  return *instance;
}

void set_detail(const std::string& text) {
  std::lock_guard<std::mutex> lock(detail_mutex());
  detail() = text;
}

std::atomic<double>& time_limit_seconds() {
  static std::atomic<double> limit([] {
    const char* value = std::getenv("PILLOW_CUDA_EMULATION_TIME_LIMIT_S");
    const double parsed = value ? std::atof(value) : 0.0;
    return parsed > 0 ? parsed : 600.0;
  }());
  return limit;
}

// ---------------------------------------------------------------- one block's fibers
struct BlockAbort {};  // unwinds a fiber of an aborted block out of the kernel

#if defined(PILLOW_FIBER_ASAN)
constexpr size_t kFiberStackBytes = 512 * 1024;  // ASan's redzones and fake frames need room
#else
constexpr size_t kFiberStackBytes = 128 * 1024;
#endif
constexpr size_t kGuardBytes = 4096;  // an unmapped page below each stack: overflow faults, never corrupts

enum class FiberState { Ready, AtBarrier, AtWarp, Done };

struct Fiber {
  ucontext_t context{};
  unsigned char* mapping = nullptr;  // guard page + stack
  FiberState state = FiberState::Ready;
  uint3 index{0, 0, 0};
  unsigned linear = 0;
  void* fake_stack = nullptr;  // ASan's bookkeeping while switched out
  ~Fiber() {
    if (mapping != nullptr) munmap(mapping, kGuardBytes + kFiberStackBytes);
  }
};

struct Warp {
  unsigned existing = 0;  // lanes that exist (the last warp of a block may be partial)
  unsigned exited = 0;    // lanes whose fiber has returned from the kernel
  unsigned arrived = 0;   // lanes waiting in the current collective
  unsigned expected = 0;  // that collective's mask
  uint64_t values[32] = {};
  uint64_t* outputs[32] = {};  // where each waiting lane wants all 32 values
};

struct Block {
  const char* kernel = "";
  const std::function<void()>* body = nullptr;
  std::vector<std::unique_ptr<Fiber>> fibers;
  std::vector<Warp> warps;
  std::deque<unsigned> ready;  // fibers to resume, in order
  uint3 index{0, 0, 0};
  unsigned live = 0, barrier_arrived = 0;
  int barrier_count = 0, barrier_result = 0;
  uint64_t barriers_completed = 0;
  bool aborted = false;
  std::string abort_reason;
  std::vector<unsigned char> dynamic_shared;
  std::chrono::steady_clock::time_point deadline;
  ucontext_t scheduler{};
  void* scheduler_fake_stack = nullptr;
  const void* scheduler_stack_bottom = nullptr;
  size_t scheduler_stack_size = 0;
  unsigned running = 0;  // the fiber on the CPU
};

thread_local Block* current = nullptr;  // the block the calling fiber belongs to

Block& current_block() {
  if (current == nullptr) throw std::logic_error("a CUDA device built-in was called outside a kernel of the emulation");
  return *current;
}

std::string describe(const Block& block) {
  return std::string(block.kernel) + " block (" + std::to_string(block.index.x) + "," + std::to_string(block.index.y) +
         "," + std::to_string(block.index.z) + ") thread " + std::to_string(block.running);
}

// Stops the block: the first reason is kept; the scheduler then resumes every waiting fiber so
// that it unwinds (BlockAbort) out of the kernel.
[[noreturn]] void abort_block(Block& block, const std::string& reason) {
  if (!block.aborted) {
    block.aborted = true;
    block.abort_reason = describe(block) + ": " + reason;
  }
  throw BlockAbort{};
}

void check_running(Block& block) {
  if (block.aborted) throw BlockAbort{};
  if (std::chrono::steady_clock::now() > block.deadline) {
    abort_block(block, "still running after the emulation's kernel time limit (" +
                           std::to_string(time_limit_seconds().load()) + " s): a kernel that never ends");
  }
}

// Fiber -> scheduler. Returns when the scheduler resumes this fiber.
void switch_to_scheduler(Block& block, bool finished) {
  Fiber& fiber = *block.fibers[block.running];
#if defined(PILLOW_FIBER_ASAN)
  __sanitizer_start_switch_fiber(finished ? nullptr : &fiber.fake_stack, block.scheduler_stack_bottom,
                                 block.scheduler_stack_size);
#endif
  swapcontext(&fiber.context, &block.scheduler);
#if defined(PILLOW_FIBER_ASAN)
  __sanitizer_finish_switch_fiber(fiber.fake_stack, nullptr, nullptr);
#endif
  (void)finished;
}

// Waits in the current barrier or collective until the scheduler resumes us; unwinds if aborted.
void block_until_resumed(Block& block, FiberState state) {
  block.fibers[block.running]->state = state;
  switch_to_scheduler(block, false);
  if (block.aborted) throw BlockAbort{};
}

void resume_in_order(Block& block, std::vector<unsigned>& fibers) {
  // Alternate the order from one barrier to the next (see the top of this file).
  if (block.barriers_completed % 2 == 1) std::reverse(fibers.begin(), fibers.end());
  for (unsigned f : fibers) {
    block.fibers[f]->state = FiberState::Ready;
    block.ready.push_back(f);
  }
}

void complete_barrier(Block& block) {
  block.barrier_result = block.barrier_count;
  block.barrier_count = 0;
  block.barrier_arrived = 0;
  ++block.barriers_completed;
  std::vector<unsigned> waiting;
  for (unsigned f = 0; f < block.fibers.size(); ++f)
    if (block.fibers[f]->state == FiberState::AtBarrier) waiting.push_back(f);
  resume_in_order(block, waiting);
}

void complete_warp(Block& block, unsigned warp_index) {
  Warp& warp = block.warps[warp_index];
  std::vector<unsigned> waiting;
  for (unsigned lane = 0; lane < 32; ++lane) {
    if (!((warp.expected >> lane) & 1u)) continue;
    uint64_t* out = warp.outputs[lane];
    for (int source = 0; source < 32; ++source) out[source] = ((warp.expected >> source) & 1u) ? warp.values[source] : 0;
    const unsigned f = warp_index * 32 + lane;
    if (f != block.running) waiting.push_back(f);
  }
  warp.arrived = 0;
  for (unsigned f : waiting) {
    block.fibers[f]->state = FiberState::Ready;
    block.ready.push_back(f);
  }
}

// The fiber returned from the kernel: barriers stop counting it; a collective still waiting for
// it can never complete.
void fiber_exit(Block& block) {
  const unsigned linear = block.running;
  --block.live;
  Warp& warp = block.warps[linear / 32];
  warp.exited |= 1u << (linear % 32);
  if (warp.arrived != 0 && (warp.expected & warp.exited) != 0) {
    abort_block(block, "returned from the kernel while its warp waits for it in a collective");
  }
  if (block.barrier_arrived > 0 && block.barrier_arrived == block.live) complete_barrier(block);
}

void fiber_entry(unsigned low, unsigned high) {
  Block& block = *reinterpret_cast<Block*>((static_cast<uintptr_t>(high) << 32) | low);
#if defined(PILLOW_FIBER_ASAN)
  __sanitizer_finish_switch_fiber(nullptr, &block.scheduler_stack_bottom, &block.scheduler_stack_size);
#endif
  try {
    if (!block.aborted) {
      (*block.body)();
      fiber_exit(block);
    }
  } catch (const BlockAbort&) {
  } catch (const std::exception& e) {
    try {
      abort_block(block, std::string("threw ") + e.what());
    } catch (const BlockAbort&) {
    }
  }
  block.fibers[block.running]->state = FiberState::Done;
  switch_to_scheduler(block, true);  // never resumed
}

void resume(Block& block, unsigned f) {
  Fiber& fiber = *block.fibers[f];
  block.running = f;
  threadIdx = fiber.index;
#if defined(PILLOW_FIBER_ASAN)
  __sanitizer_start_switch_fiber(&block.scheduler_fake_stack, fiber.mapping + kGuardBytes, kFiberStackBytes);
#endif
  swapcontext(&block.scheduler, &fiber.context);
#if defined(PILLOW_FIBER_ASAN)
  __sanitizer_finish_switch_fiber(block.scheduler_fake_stack, nullptr, nullptr);
#endif
}

// Runs one block to its end: every fiber finished, or the block aborted and every fiber unwound.
void run_block(Block& block) {
  block.live = static_cast<unsigned>(block.fibers.size());
  block.barrier_arrived = 0;
  block.barrier_count = 0;
  block.ready.clear();
  for (auto& warp : block.warps) warp.exited = warp.arrived = 0;
  std::fill(block.dynamic_shared.begin(), block.dynamic_shared.end(), static_cast<unsigned char>(0xff));
  const uintptr_t address = reinterpret_cast<uintptr_t>(&block);
  for (unsigned f = 0; f < block.fibers.size(); ++f) {
    Fiber& fiber = *block.fibers[f];
    getcontext(&fiber.context);
    fiber.context.uc_stack.ss_sp = fiber.mapping + kGuardBytes;
    fiber.context.uc_stack.ss_size = kFiberStackBytes;
    fiber.context.uc_link = nullptr;
    makecontext(&fiber.context, reinterpret_cast<void (*)()>(&fiber_entry), 2, static_cast<unsigned>(address),
                static_cast<unsigned>(address >> 32));
    fiber.state = FiberState::Ready;
    block.ready.push_back(f);
  }
  for (;;) {
    while (!block.ready.empty()) {
      const unsigned f = block.ready.front();
      block.ready.pop_front();
      resume(block, f);
    }
    bool waiting = false;
    for (const auto& fiber : block.fibers) waiting |= fiber->state != FiberState::Done;
    if (!waiting) return;
    // Fibers wait and none can run: a deadlock, unless the block is already unwinding.
    if (!block.aborted) {
      block.aborted = true;
      block.abort_reason = std::string(block.kernel) + " block (" + std::to_string(block.index.x) + "," +
                           std::to_string(block.index.y) + "," + std::to_string(block.index.z) +
                           "): deadlock: threads wait at barriers or warp collectives that cannot complete";
    }
    for (unsigned f = 0; f < block.fibers.size(); ++f)
      if (block.fibers[f]->state != FiberState::Done) block.ready.push_back(f);
  }
}

std::mutex& launch_mutex() {
  static std::mutex* instance = new std::mutex();
  return *instance;
}

}  // namespace

bool is_device_range(const void* pointer, size_t bytes) {
  Allocations& a = allocations();
  std::lock_guard<std::mutex> lock(a.mutex);
  const uintptr_t begin = reinterpret_cast<uintptr_t>(pointer);
  auto it = a.ranges.upper_bound(begin);
  if (it == a.ranges.begin()) return false;
  --it;
  return begin >= it->first && begin - it->first + bytes <= it->second && bytes <= it->second;
}

std::string take_fault_detail() {
  std::lock_guard<std::mutex> lock(detail_mutex());
  std::string text;
  text.swap(detail());
  return text;
}

void set_kernel_time_limit(double seconds) { time_limit_seconds() = seconds > 0 ? seconds : 600.0; }


cudaError_t refuse_launch(const char* kernel, cudaError_t error, const char* reason) {
  set_detail(std::string(kernel) + ": " + reason);
  return record(error);
}

cudaError_t run_grid(const char* kernel, dim3 grid, dim3 block_dim, size_t dynamic_shared_bytes,
                     const std::function<void()>& body) {
  const unsigned grid_dims[3] = {grid.x, grid.y, grid.z};
  const unsigned block_dims[3] = {block_dim.x, block_dim.y, block_dim.z};
  for (int d = 0; d < 3; ++d) {
    if (grid_dims[d] == 0 || grid_dims[d] > kMaxGridDim[d] || block_dims[d] == 0 || block_dims[d] > kMaxBlockDim[d]) {
      return refuse_launch(kernel, cudaErrorInvalidConfiguration, "grid or block dimension is 0 or above the device limit");
    }
  }
  const uint64_t threads = uint64_t{block_dim.x} * block_dim.y * block_dim.z;
  if (threads > kMaxThreadsPerBlock) {
    return refuse_launch(kernel, cudaErrorInvalidConfiguration, "more than 1024 threads per block");
  }
  if (dynamic_shared_bytes > kMaxSharedBytesPerBlock) {
    return refuse_launch(kernel, cudaErrorInvalidValue, "dynamic shared memory above 48 KiB per block");
  }
  std::lock_guard<std::mutex> serial(launch_mutex());  // one block at a time: statics are its shared memory
  Block block;
  block.kernel = kernel;
  block.body = &body;
  for (unsigned f = 0; f < threads; ++f) {
    block.fibers.push_back(std::make_unique<Fiber>());
    Fiber& fiber = *block.fibers[f];
    fiber.linear = f;
    fiber.index = uint3{f % block_dim.x, (f / block_dim.x) % block_dim.y, f / (block_dim.x * block_dim.y)};
    void* mapping = mmap(nullptr, kGuardBytes + kFiberStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapping == MAP_FAILED) return refuse_launch(kernel, cudaErrorLaunchOutOfResources, "could not map the fiber stacks");
    fiber.mapping = static_cast<unsigned char*>(mapping);
    mprotect(fiber.mapping, kGuardBytes, PROT_NONE);
  }
  block.warps.resize((threads + 31) / 32);
  for (unsigned w = 0; w < block.warps.size(); ++w) {
    const unsigned lanes = std::min<unsigned>(32, static_cast<unsigned>(threads) - w * 32);
    block.warps[w].existing = lanes == 32 ? 0xffffffffu : ((1u << lanes) - 1);
  }
  block.dynamic_shared.resize(dynamic_shared_bytes);
  const double limit = time_limit_seconds().load();
  block.deadline = std::chrono::steady_clock::now() +
                   std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(limit));
  Block* const previous = current;
  const dim3 previous_block_dim = blockDim, previous_grid_dim = gridDim;
  const uint3 previous_thread = threadIdx, previous_block = blockIdx;
  current = &block;
  blockDim = block_dim;
  gridDim = grid;
  const uint64_t blocks = uint64_t{grid.x} * grid.y * grid.z;
  for (uint64_t b = 0; b < blocks && !block.aborted; ++b) {
    block.index = uint3{static_cast<unsigned>(b % grid.x), static_cast<unsigned>((b / grid.x) % grid.y),
                        static_cast<unsigned>(b / (uint64_t{grid.x} * grid.y))};
    blockIdx = block.index;
    run_block(block);
  }
  current = previous;
  blockDim = previous_block_dim;
  gridDim = previous_grid_dim;
  threadIdx = previous_thread;
  blockIdx = previous_block;
  if (block.aborted) {
    set_detail(block.abort_reason);
    return record(cudaErrorLaunchFailure);
  }
  return cudaSuccess;
}

void* dynamic_shared_memory() {
  Block& block = current_block();
  return block.dynamic_shared.empty() ? nullptr : block.dynamic_shared.data();
}

void sync_threads() { sync_threads_count(0); }

int sync_threads_count(int predicate) {
  Block& block = current_block();
  check_running(block);
  block.barrier_count += predicate != 0;
  // Every arrival waits, the last one included, so that the next phase runs in the chosen order.
  block.fibers[block.running]->state = FiberState::AtBarrier;
  if (++block.barrier_arrived == block.live) complete_barrier(block);
  switch_to_scheduler(block, false);
  if (block.aborted) throw BlockAbort{};
  return block.barrier_result;  // the next barrier needs our arrival, so this is still ours
}

unsigned lane_id() { return current_block().running % 32; }

void fault(const char* reason) { abort_block(current_block(), reason); }

void warp_gather(unsigned mask, uint64_t bits, uint64_t* lanes_out) {
  Block& block = current_block();
  check_running(block);
  const unsigned lane = block.running % 32, warp_index = block.running / 32;
  Warp& warp = block.warps[warp_index];
  if (!((mask >> lane) & 1u)) abort_block(block, "a warp collective's mask leaves out the calling lane");
  if ((mask & ~warp.existing) != 0) abort_block(block, "a warp collective's mask names lanes the block does not have");
  if ((mask & warp.exited) != 0) abort_block(block, "a warp collective's mask names a lane that has returned");
  if (warp.arrived == 0) {
    warp.expected = mask;
  } else if (warp.expected != mask) {
    abort_block(block, "the lanes of a warp called a collective with different masks");
  }
  warp.values[lane] = bits;
  warp.outputs[lane] = lanes_out;
  warp.arrived |= 1u << lane;
  if (warp.arrived == warp.expected) {
    complete_warp(block, warp_index);
    return;
  }
  block_until_resumed(block, FiberState::AtWarp);
}

void sync_warp(unsigned mask) {
  uint64_t lanes[32];
  warp_gather(mask, 0, lanes);
}

}  // namespace pillow::cuda_emulation

using pillow::cuda_emulation::warp_gather;

unsigned __ballot_sync(unsigned mask, int predicate) {
  uint64_t lanes[32];
  warp_gather(mask, predicate != 0, lanes);
  unsigned result = 0;
  for (int lane = 0; lane < 32; ++lane) result |= static_cast<unsigned>(lanes[lane] != 0) << lane;
  return result;
}
int __any_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) != 0; }
int __all_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) == mask; }

namespace {
template <typename Fold>
unsigned reduce(unsigned mask, unsigned value, unsigned initial, Fold fold) {
  uint64_t lanes[32];
  warp_gather(mask, value, lanes);
  unsigned result = initial;
  for (int lane = 0; lane < 32; ++lane)
    if ((mask >> lane) & 1u) result = fold(result, static_cast<unsigned>(lanes[lane]));
  return result;
}
}  // namespace

unsigned __reduce_add_sync(unsigned mask, unsigned value) {
  return reduce(mask, value, 0u, [](unsigned a, unsigned b) { return a + b; });
}
unsigned __reduce_min_sync(unsigned mask, unsigned value) {
  return reduce(mask, value, 0xffffffffu, [](unsigned a, unsigned b) { return b < a ? b : a; });
}
unsigned __reduce_max_sync(unsigned mask, unsigned value) {
  return reduce(mask, value, 0u, [](unsigned a, unsigned b) { return a < b ? b : a; });
}

// ---------------------------------------------------------------- host API
using pillow::cuda_emulation::allocations;
using pillow::cuda_emulation::record;

cudaError_t cudaMalloc(void** pointer, size_t bytes) {
  if (pointer == nullptr) return record(cudaErrorInvalidValue);
  *pointer = nullptr;
  if (bytes == 0) return cudaSuccess;
  auto& a = allocations();
  {
    std::lock_guard<std::mutex> lock(a.mutex);
    if (bytes > pillow::cuda_emulation::kDeviceMemoryBytes - a.total) return record(cudaErrorMemoryAllocation);
  }
  void* memory = ::operator new(bytes, std::align_val_t(pillow::cuda_emulation::kAlignment), std::nothrow);
  if (memory == nullptr) return record(cudaErrorMemoryAllocation);
  std::memset(memory, 0xff, bytes);  // device memory starts as garbage; NaN/-1 make it visible
  std::lock_guard<std::mutex> lock(a.mutex);
  a.ranges[reinterpret_cast<uintptr_t>(memory)] = bytes;
  a.total += bytes;
  *pointer = memory;
  return cudaSuccess;
}

cudaError_t cudaFree(void* pointer) {
  if (pointer == nullptr) return cudaSuccess;
  auto& a = allocations();
  {
    std::lock_guard<std::mutex> lock(a.mutex);
    auto it = a.ranges.find(reinterpret_cast<uintptr_t>(pointer));
    if (it == a.ranges.end()) return record(cudaErrorInvalidValue);  // not the start of a live allocation
    a.total -= it->second;
    a.ranges.erase(it);
  }
  ::operator delete(pointer, std::align_val_t(pillow::cuda_emulation::kAlignment));
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* destination, const void* source, size_t bytes, cudaMemcpyKind kind) {
  using pillow::cuda_emulation::is_device_range;
  if (bytes == 0) return cudaSuccess;
  if (destination == nullptr || source == nullptr) return record(cudaErrorInvalidValue);
  bool ok = true;
  switch (kind) {
    case cudaMemcpyHostToDevice: ok = is_device_range(destination, bytes) && !is_device_range(source, 1); break;
    case cudaMemcpyDeviceToHost: ok = is_device_range(source, bytes) && !is_device_range(destination, 1); break;
    case cudaMemcpyDeviceToDevice: ok = is_device_range(source, bytes) && is_device_range(destination, bytes); break;
    case cudaMemcpyHostToHost: ok = !is_device_range(source, 1) && !is_device_range(destination, 1); break;
    case cudaMemcpyDefault: break;
    default: return record(cudaErrorInvalidMemcpyDirection);
  }
  if (!ok) return record(cudaErrorInvalidValue);
  std::memmove(destination, source, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* destination, const void* source, size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
  return cudaMemcpy(destination, source, bytes, kind);  // streams are synchronous here
}

cudaError_t cudaMemset(void* pointer, int value, size_t bytes) {
  if (bytes == 0) return cudaSuccess;
  if (!pillow::cuda_emulation::is_device_range(pointer, bytes)) return record(cudaErrorInvalidValue);
  std::memset(pointer, value, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* pointer, int value, size_t bytes, cudaStream_t) { return cudaMemset(pointer, value, bytes); }

cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }  // every launch and copy already finished

cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  if (stream == nullptr) return record(cudaErrorInvalidValue);
  static int token;  // streams are synchronous: one shared non-null handle
  *stream = reinterpret_cast<cudaStream_t>(&token);
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }

cudaError_t cudaGetLastError() {
  const cudaError_t error = pillow::cuda_emulation::last_error;
  pillow::cuda_emulation::last_error = cudaSuccess;
  return error;
}
cudaError_t cudaPeekAtLastError() { return pillow::cuda_emulation::last_error; }

cudaError_t cudaGetDeviceCount(int* count) {
  if (count == nullptr) return record(cudaErrorInvalidValue);
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : record(cudaErrorInvalidValue); }
cudaError_t cudaGetDevice(int* device) {
  if (device == nullptr) return record(cudaErrorInvalidValue);
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* properties, int device) {
  if (properties == nullptr || device != 0) return record(cudaErrorInvalidValue);
  *properties = cudaDeviceProp{};
  std::snprintf(properties->name, sizeof(properties->name), "pillow CUDA emulation (CPU threads)");
  properties->totalGlobalMem = pillow::cuda_emulation::kDeviceMemoryBytes;
  properties->sharedMemPerBlock = pillow::cuda_emulation::kMaxSharedBytesPerBlock;
  properties->warpSize = 32;
  properties->maxThreadsPerBlock = static_cast<int>(pillow::cuda_emulation::kMaxThreadsPerBlock);
  for (int d = 0; d < 3; ++d) {
    properties->maxThreadsDim[d] = static_cast<int>(pillow::cuda_emulation::kMaxBlockDim[d]);
    properties->maxGridSize[d] = static_cast<int>(pillow::cuda_emulation::kMaxGridDim[d]);
  }
  properties->major = 8;
  properties->minor = 0;
  properties->multiProcessorCount = 1;
  return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int* version) {
  if (version == nullptr) return record(cudaErrorInvalidValue);
  *version = 0;  // no CUDA runtime: the emulation
  return cudaSuccess;
}

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {  // the real runtime's wording
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
  }
  return "unknown error";
}
