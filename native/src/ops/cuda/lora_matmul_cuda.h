// CUDA twins of ops/cpu/lora_matmul.h and the matmul gradients of ops/cpu/matmul.h: the same
// arguments, every pointer on the device (for the multi-adapter forward, the arrays a, b, ranks and
// scales live on the host and hold device pointers / values, as the CPU one holds host pointers).
// Compiled in CI; no GPU was available to run them (see packages/lora-kernels/README.md).
#pragma once
#include <cstdint>

#include "ops/common/lora_matmul_output.h"
#include "ops/common/weight_view.h"

namespace pillow {

void lora_matmul_forward_cuda(float* y, const float* x, WeightView w, const float* a, const float* b, int64_t tokens,
                              int64_t in_features, int64_t out_features, int64_t rank, float scale);

// Every output's product on the same x; the outputs array lives on the host. A GPU has no pool
// join to save, so this is the single-product forward per output.
void lora_matmul_forward_shared_input_cuda(const LoraMatmulOutput* outputs, int64_t output_count, const float* x,
                                           int64_t tokens, int64_t in_features);

void lora_matmul_backward_cuda(float* dx, float* da, float* db, const float* dy, const float* x, WeightView w,
                               const float* a, const float* b, int64_t tokens, int64_t in_features,
                               int64_t out_features, int64_t rank, float scale);

void lora_matmul_multi_forward_cuda(float* y, const float* x, WeightView w, const float* const* a,
                                    const float* const* b, const int64_t* ranks, const float* scales,
                                    int64_t adapter_count, const int32_t* adapter_index, int64_t tokens,
                                    int64_t in_features, int64_t out_features);

void matmul_backward_weight_cuda(float* dw, const float* dy, const float* x, int64_t tokens, int64_t in_features,
                                 int64_t out_features);

void matmul_backward_input_cuda(float* dx, const float* dy, WeightView w, int64_t tokens, int64_t in_features,
                                int64_t out_features);

}  // namespace pillow
