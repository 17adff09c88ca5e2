// CUDA twins of the model ops in ops/cpu/ (embedding, rmsnorm, rope, attention, swiglu, bias, residual,
// cross_entropy, adamw): the same arguments and semantics, every pointer on the device. Shapes are
// checked on the host before any launch; errors are PillowError (E_SHAPE, E_ARGUMENT, E_CUDA).
#pragma once
#include <cstdint>

#include "ops/cpu/adamw.h"
#include "ops/cpu/attention.h"

namespace pillow {

void embedding_forward_cuda(float* out, const int32_t* tokens, const float* table, int64_t count, int64_t vocab,
                            int64_t hidden);
void embedding_backward_cuda(float* dtable, const float* dout, const int32_t* tokens, int64_t count, int64_t vocab,
                             int64_t hidden);

void rmsnorm_forward_cuda(float* out, float* rstd, const float* x, const float* weight, int64_t rows, int64_t hidden,
                          float eps);
void rmsnorm_backward_cuda(float* dx, float* dweight, const float* dout, const float* x, const float* weight,
                           const float* rstd, int64_t rows, int64_t hidden);

void rope_forward_cuda(float* out, const float* x, const int32_t* positions, const float* cos_table,
                       const float* sin_table, int64_t rows, int64_t heads, int64_t head_dim, int64_t table_positions);
void rope_backward_cuda(float* dx, const float* dout, const int32_t* positions, const float* cos_table,
                        const float* sin_table, int64_t rows, int64_t heads, int64_t head_dim, int64_t table_positions);

void attention_forward_cuda(float* out, float* lse, const float* q, const float* k, const float* v,
                            const AttentionShape& shape);
void attention_backward_cuda(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                             const float* v, const float* out, const float* lse, const AttentionShape& shape);

void swiglu_forward_cuda(float* out, const float* gate, const float* up, int64_t count);
void swiglu_backward_cuda(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                          int64_t count);

void bias_forward_cuda(float* y, const float* bias, int64_t rows, int64_t width);
void bias_backward_cuda(float* dbias, const float* dy, int64_t rows, int64_t width);

void residual_forward_cuda(float* out, const float* a, const float* b, int64_t count);
void residual_backward_cuda(float* da, float* db, const float* dout, int64_t count);

// Returns the number of rows not ignored (targets are copied to the host for the check).
int64_t cross_entropy_forward_cuda(float* losses, const float* logits, const int32_t* targets, int64_t rows,
                                   int64_t vocab);
void cross_entropy_backward_cuda(float* dlogits, const float* logits, const int32_t* targets, float loss_scale,
                                 int64_t rows, int64_t vocab);

// tensors[i].param/grad/m/v are device pointers (the array itself is on the host).
void adamw_update_cuda(const AdamWTensor* tensors, int64_t count, const AdamWOptions& options);
double gradient_squared_norm_cuda(const float* const* grads, const int64_t* sizes, int64_t count);

}  // namespace pillow
