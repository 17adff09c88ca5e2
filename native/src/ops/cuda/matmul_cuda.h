// CUDA twin of ops/cpu/matmul.h: the same arguments, all pointers on the device.
#pragma once
#include <cstdint>

namespace pillow {

void matmul_forward_cuda(float* out, const float* x, const float* w, int64_t tokens, int64_t in_features,
                         int64_t out_features);

}  // namespace pillow
