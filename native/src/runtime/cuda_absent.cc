// Linked when the addon is built without CUDA (PILLOW_CUDA=off or no nvcc).
#include "runtime/cuda_info.h"

namespace pillow {

CudaInfo cuda_info() {
  CudaInfo info;
  info.compiled = false;
  info.error = "built without the CUDA backend (PILLOW_CUDA=off or nvcc not found at build time)";
  return info;
}

}  // namespace pillow
