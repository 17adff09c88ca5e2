// f32 matmul in the PEFT/HF layout, CPU reference path (multi-threaded, ISA-dispatched).
#pragma once
#include <cstdint>

namespace pillow {

// out[T, out_features] = x[T, in_features] · w[out_features, in_features]ᵀ
void matmul_forward(float* out, const float* x, const float* w, int64_t tokens, int64_t in_features,
                    int64_t out_features);

}  // namespace pillow
