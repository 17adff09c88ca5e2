// Fused LoRA matmul, PEFT layouts: W [out, in] (f32 or bf16, frozen), A [rank, in], B [out, rank],
// x [T, in]; scale s = alpha/rank (or alpha/√rank for rsLoRA), chosen by the caller.
// Every op here checks its arguments (PillowError E_SHAPE / E_ARGUMENT) before any work, runs on
// the shared thread pool, and so must not be called from inside a parallel_for body.
#pragma once
#include <cstdint>

#include "ops/common/lora_matmul_output.h"
#include "ops/common/weight_view.h"
#include "ops/cpu/matmul.h"

namespace pillow {

// Products of up to this many rows (decode) run as GEMVs that stream W itself; larger ones as GEMMs,
// which read a WeightView's packed panels when it has them.
inline constexpr int64_t kLoraGemvMaxTokens = 4;

// y[T, out] = x·Wᵀ + scale·(x·Aᵀ)·Bᵀ. a == nullptr or rank == 0 means no LoRA (b is then ignored).
// The rank-r product is computed once and folded into the base GEMM as extra K columns.
void lora_matmul_forward(float* y, const float* x, WeightView w, const float* a, const float* b, int64_t tokens,
                         int64_t in_features, int64_t out_features, int64_t rank, float scale);

// lora_matmul_forward for every outputs[i], all on the same x [T, in]. Decode (T <= 4) streams the
// rows of every W in one parallel region instead of one region per matrix: each region ends in a
// join, and a decode step is nothing but short regions. Larger T runs each product as its GEMM.
// Results equal lora_matmul_forward's, bit for bit. Every output is checked before any work.
void lora_matmul_forward_shared_input(const LoraMatmulOutput* outputs, int64_t output_count, const float* x,
                                      int64_t tokens, int64_t in_features);

// Gradients for a frozen W; every output may be nullptr (not wanted) and is overwritten, not accumulated.
//   dx[T, in]  = dy·W + scale·(dy·B)·A
//   da[r, in]  = scale·(dy·B)ᵀ·x
//   db[out, r] = scale·dyᵀ·(x·Aᵀ)
// dW is never formed; the intermediates dy·B and x·Aᵀ are [T, r].
void lora_matmul_backward(float* dx, float* da, float* db, const float* dy, const float* x, WeightView w,
                          const float* a, const float* b, int64_t tokens, int64_t in_features, int64_t out_features,
                          int64_t rank, float scale);

// One adapter per token row (Punica BGMV style): y[t] = x[t]·Wᵀ + s_j·(x[t]·A_jᵀ)·B_jᵀ with
// j = adapter_index[t], or the base product alone where adapter_index[t] == -1. Adapters may
// differ in rank (ranks[j] >= 1); a[j] is [ranks[j], in], b[j] is [out, ranks[j]].
void lora_matmul_multi_forward(float* y, const float* x, WeightView w, const float* const* a, const float* const* b,
                               const int64_t* ranks, const float* scales, int64_t adapter_count,
                               const int32_t* adapter_index, int64_t tokens, int64_t in_features,
                               int64_t out_features);

}  // namespace pillow
