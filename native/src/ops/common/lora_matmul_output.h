// The description of one product in lora_matmul_forward_shared_input (CPU, and its CUDA twin with
// device pointers).
#pragma once
#include <cstdint>

#include "ops/common/weight_view.h"

namespace pillow {

// One of several fused LoRA matmuls that read the same input x (a layer's q/k/v projections, or
// its gate/up projections): y[T, out_features] = x·Wᵀ + scale·(x·Aᵀ)·Bᵀ, W [out_features, in],
// A [rank, in], B [out_features, rank]; a == nullptr or rank == 0 means no LoRA (b is then ignored).
struct LoraMatmulOutput {
  float* y;
  WeightView w;
  const float* a;
  const float* b;
  int64_t out_features;
  int64_t rank;
  float scale;
};

}  // namespace pillow
