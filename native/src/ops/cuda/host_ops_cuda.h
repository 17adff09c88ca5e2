// The CUDA ops for callers whose arrays live in host memory (the Node bindings' device: "cuda"):
// each copies its inputs to the device, runs the CUDA op and copies the results back. Arguments
// are those of the CPU ops (ops/cpu/*.h). Built without the CUDA backend, each throws E_CUDA
// (runtime/cuda_absent.cc); with it, the device op's own checks run before any kernel.
#pragma once
#include <cstdint>

#include "ops/common/sampling_math.h"
#include "ops/common/weight_view.h"

namespace pillow {

void matmul_forward_cuda_host(float* out, const float* x, const float* w, int64_t tokens, int64_t in_features,
                              int64_t out_features);

void lora_matmul_forward_cuda_host(float* y, const float* x, WeightView w, const float* a, const float* b, int64_t tokens,
                                   int64_t in_features, int64_t out_features, int64_t rank, float scale);

void lora_matmul_backward_cuda_host(float* dx, float* da, float* db, const float* dy, const float* x, WeightView w,
                                    const float* a, const float* b, int64_t tokens, int64_t in_features,
                                    int64_t out_features, int64_t rank, float scale);

void lora_matmul_multi_forward_cuda_host(float* y, const float* x, WeightView w, const float* const* a,
                                         const float* const* b, const int64_t* ranks, const float* scales,
                                         int64_t adapter_count, const int32_t* adapter_index, int64_t tokens,
                                         int64_t in_features, int64_t out_features);

void sample_forward_cuda_host(int32_t* tokens, float* logprobs, const float* logits, int64_t rows, int64_t vocab,
                              const SamplingOptions& options, const uint64_t* seeds,
                              const int32_t* const* previous_tokens, const int64_t* previous_counts);

}  // namespace pillow
