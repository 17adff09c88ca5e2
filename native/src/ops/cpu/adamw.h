// AdamW (torch.optim.AdamW semantics: decoupled weight decay, bias-corrected moments) over many
// tensors in one call, plus the global gradient norm used for clipping.
#pragma once
#include <cstdint>

namespace pillow {

struct AdamWTensor {
  float* param;        // [size], updated in place
  const float* grad;   // [size]
  float* m;            // [size] first moment
  float* v;            // [size] second moment
  int64_t size;
  float weight_decay;  // per tensor: 0 for norms and biases in full training, as HF Trainer does
};

struct AdamWOptions {
  float learning_rate;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float epsilon = 1e-8f;
  int64_t step;                 // 1-based step number after this update
  float gradient_scale = 1.0f;  // applied to every gradient (clipping factor)
};

// Updates every tensor; one parallel_for over all of them.
void adamw_update(const AdamWTensor* tensors, int64_t count, const AdamWOptions& options);

// Σ over tensors of Σ grad², accumulated in double (deterministic order).
double gradient_squared_norm(const float* const* grads, const int64_t* sizes, int64_t count);

}  // namespace pillow
