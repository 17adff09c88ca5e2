// One AdamW update of one parameter, as torch.optim.AdamW does it (decoupled weight decay applied
// to the parameter before the Adam step, bias-corrected moments). Shared by CPU and CUDA.
#pragma once
#include <math.h>

#include "ops/common/host_device.h"

namespace pillow {

struct AdamWHyper {
  float learning_rate;
  float beta1;
  float beta2;
  float epsilon;
  float bias_correction1;  // 1 − beta1^step
  float bias_correction2;  // 1 − beta2^step
  float gradient_scale;    // multiplies every gradient first (gradient clipping, accumulation averaging)
};

PILLOW_HOST_DEVICE void adamw_element(float* param, float* m, float* v, float grad, float weight_decay,
                                      const AdamWHyper& h) {
  const float g = grad * h.gradient_scale;
  float p = *param * (1.0f - h.learning_rate * weight_decay);
  const float m_new = h.beta1 * *m + (1.0f - h.beta1) * g;
  const float v_new = h.beta2 * *v + (1.0f - h.beta2) * g * g;
  const float denominator = sqrtf(v_new) / sqrtf(h.bias_correction2) + h.epsilon;
  p -= (h.learning_rate / h.bias_correction1) * m_new / denominator;
  *m = m_new;
  *v = v_new;
  *param = p;
}

}  // namespace pillow
