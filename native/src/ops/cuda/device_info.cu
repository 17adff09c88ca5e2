// What the CUDA backend can see. Without a GPU or driver this reports 0 devices and the reason,
// and never throws: the CPU backend keeps working.
#include <cuda_runtime.h>

#include "runtime/cuda_info.h"

namespace pillow {

CudaInfo cuda_info() {
  CudaInfo info;
  info.compiled = true;
#if defined(PILLOW_CUDA_EMULATION)
  info.emulated = true;
#endif
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    info.devices = 0;
    info.error = cudaGetErrorString(status);
    cudaGetLastError();  // clear the sticky error so later calls start clean
  } else {
    info.devices = count;
  }
  int runtime_version = 0;
  if (cudaRuntimeGetVersion(&runtime_version) == cudaSuccess) info.runtime_version = runtime_version;
  return info;
}

}  // namespace pillow
