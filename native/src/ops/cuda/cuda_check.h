// Turns CUDA runtime errors into PillowError (code E_CUDA) instead of aborting.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "runtime/errors.h"

namespace pillow {

inline void check_cuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw PillowError(kErrorCuda, std::string(what) + ": " + cudaGetErrorString(status));
  }
}

}  // namespace pillow
