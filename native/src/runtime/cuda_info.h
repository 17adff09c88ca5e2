// Build- and run-time facts about the CUDA backend (see ops/cuda/device_info.cu and cuda_absent.cc).
#pragma once
#include <string>

namespace pillow {

struct CudaInfo {
  bool compiled = false;
  bool emulated = false;  // PILLOW_CUDA=emulate: the kernels run on CPU threads (tests only)
  int devices = 0;
  int runtime_version = 0;
  std::string error;
};

CudaInfo cuda_info();

}  // namespace pillow
