// Per-element math of SwiGLU (silu(gate) * up) and its derivative, shared by CPU and CUDA.
#pragma once
#include <math.h>

#include "ops/common/host_device.h"

namespace pillow {

PILLOW_HOST_DEVICE float sigmoid_value(float x) { return 1.0f / (1.0f + expf(-x)); }

PILLOW_HOST_DEVICE float swiglu_value(float gate, float up) { return gate * sigmoid_value(gate) * up; }

// d/dgate and d/dup of silu(gate)*up, given the upstream gradient.
PILLOW_HOST_DEVICE void swiglu_gradient(float dout, float gate, float up, float* dgate, float* dup) {
  const float s = sigmoid_value(gate);
  const float silu = gate * s;
  *dup = dout * silu;
  *dgate = dout * up * (s * (1.0f + gate * (1.0f - s)));
}

}  // namespace pillow
