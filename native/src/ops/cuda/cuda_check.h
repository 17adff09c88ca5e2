// Turns CUDA runtime errors into PillowError (code E_CUDA) instead of aborting.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "runtime/errors.h"

namespace pillow {

inline void check_cuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    std::string message = std::string(what) + ": " + cudaGetErrorString(status);
#if defined(PILLOW_CUDA_EMULATION)
    // The emulation knows which block and thread failed and why; say it.
    const std::string detail = cuda_emulation::take_fault_detail();
    if (!detail.empty()) message += " (emulation: " + detail + ")";
#endif
    throw PillowError(kErrorCuda, message);
  }
}

}  // namespace pillow
