// Per-element math of SwiGLU (silu(gate) * up) and its derivative, shared by CPU and CUDA.
#pragma once
#include <math.h>

#include "ops/common/fast_exp.h"
#include "ops/common/host_device.h"

namespace pillow {

// fast_exp (relative error ~2e-7) instead of expf: it vectorises on the CPU, where SwiGLU's
// forward and backward over [T, intermediate] were ~3 % of a 134M LoRA step with a scalar expf.
// Its clamp keeps 1 + e^-x finite (x < -88 gives ~6e-39 instead of 0, x > 87 gives 1).
PILLOW_HOST_DEVICE float sigmoid_value(float x) { return 1.0f / (1.0f + fast_exp(-x)); }

PILLOW_HOST_DEVICE float swiglu_value(float gate, float up) { return gate * sigmoid_value(gate) * up; }

// d/dgate and d/dup of silu(gate)*up, given the upstream gradient.
PILLOW_HOST_DEVICE void swiglu_gradient(float dout, float gate, float up, float* dgate, float* dup) {
  const float s = sigmoid_value(gate);
  const float silu = gate * s;
  *dup = dout * silu;
  *dgate = dout * up * (s * (1.0f + gate * (1.0f - s)));
}

}  // namespace pillow
