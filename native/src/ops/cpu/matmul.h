// f32 matmul in the PEFT/HF layout (W is [out, in]) and its gradients, CPU path
// (multi-threaded, ISA-dispatched). Weights may be f32 or bf16 (see ops/common/weight_view.h).
#pragma once
#include <cstdint>

#include "ops/common/weight_view.h"

namespace pillow {

// out[T, out_features] = x[T, in_features] · w[out_features, in_features]ᵀ
void matmul_forward(float* out, const float* x, const float* w, int64_t tokens, int64_t in_features,
                    int64_t out_features);

// For full-parameter training. dw[out, in] = dy[T, out]ᵀ · x[T, in]   (overwritten)
void matmul_backward_weight(float* dw, const float* dy, const float* x, int64_t tokens, int64_t in_features,
                            int64_t out_features);

// dx[T, in] = dy[T, out] · W[out, in]   (overwritten)
void matmul_backward_input(float* dx, const float* dy, WeightView w, int64_t tokens, int64_t in_features,
                           int64_t out_features);

// Throws E_SHAPE unless tokens, in_features and out_features are >= 1 and their products fit.
void check_matmul_dimensions(const char* op, int64_t tokens, int64_t in_features, int64_t out_features);
// Throws E_ARGUMENT for a null pointer or an unknown weight type.
void check_weight_view(const char* op, WeightView w, int64_t in_features);

}  // namespace pillow
