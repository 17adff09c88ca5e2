// One way to launch a kernel, for nvcc and for the emulation (PILLOW_CUDA=emulate) alike: the
// triple-chevron syntax is not C++, so the .cu sources launch through launch_kernel, which also
// turns a refused launch into PillowError (E_CUDA) naming the kernel.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

#include "ops/cuda/cuda_check.h"

namespace pillow {

template <typename... Params, typename... Args>
void launch_kernel(const char* name, void (*kernel)(Params...), dim3 grid, dim3 block, size_t dynamic_shared_bytes,
                   Args&&... args) {
#if defined(PILLOW_CUDA_EMULATION)
  const cudaError_t status =
      cuda_emulation::launch(name, kernel, grid, block, dynamic_shared_bytes, std::forward<Args>(args)...);
  cudaGetLastError();  // the status is reported here; leave no stale last error behind
  check_cuda(status, name);
#else
  kernel<<<grid, block, dynamic_shared_bytes>>>(std::forward<Args>(args)...);
  check_cuda(cudaGetLastError(), name);
#endif
}

}  // namespace pillow

// Dynamic shared memory (the launch's dynamic_shared_bytes), declared the same way in both builds.
#if defined(PILLOW_CUDA_EMULATION)
#define PILLOW_DYNAMIC_SHARED(type, name) type* const name = static_cast<type*>(::pillow::cuda_emulation::dynamic_shared_memory())
#else
#define PILLOW_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif
