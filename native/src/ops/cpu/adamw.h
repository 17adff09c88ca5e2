// AdamW (torch.optim.AdamW semantics: decoupled weight decay, bias-corrected moments) over many
// tensors in one call, plus the global gradient norm used for clipping.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>

#include "ops/common/adamw_math.h"
#include "runtime/errors.h"

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

// Checks the options (throwing E_ARGUMENT naming `op`) and turns them into the per-element
// hyper-parameters; shared by the CPU op and its CUDA twin so both refuse exactly the same input.
inline AdamWHyper checked_adamw_hyper(const AdamWOptions& o, const char* op) {
  const std::string name(op);
  if (o.step < 1) throw_argument_error(name + ": step must be >= 1");
  if (!(o.learning_rate >= 0) || !std::isfinite(o.learning_rate)) {
    throw_argument_error(name + ": learning rate must be a finite number >= 0");
  }
  if (!(o.beta1 >= 0 && o.beta1 < 1) || !(o.beta2 >= 0 && o.beta2 < 1) || !(o.epsilon > 0)) {
    throw_argument_error(name + ": betas must be in [0, 1) and epsilon > 0");
  }
  if (!std::isfinite(o.gradient_scale)) throw_argument_error(name + ": gradient scale is not finite");
  AdamWHyper h;
  h.learning_rate = o.learning_rate;
  h.beta1 = o.beta1;
  h.beta2 = o.beta2;
  h.epsilon = o.epsilon;
  h.bias_correction1 = static_cast<float>(1.0 - std::pow(static_cast<double>(o.beta1), static_cast<double>(o.step)));
  h.bias_correction2 = static_cast<float>(1.0 - std::pow(static_cast<double>(o.beta2), static_cast<double>(o.step)));
  h.gradient_scale = o.gradient_scale;
  return h;
}

// Updates every tensor; one parallel_for over all of them.
void adamw_update(const AdamWTensor* tensors, int64_t count, const AdamWOptions& options);

// Σ over tensors of Σ grad², accumulated in double (deterministic order).
double gradient_squared_norm(const float* const* grads, const int64_t* sizes, int64_t count);

}  // namespace pillow
