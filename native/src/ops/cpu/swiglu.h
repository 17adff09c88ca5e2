// SwiGLU, the LLaMA MLP activation: out = silu(gate) ⊙ up, silu(x) = x·sigmoid(x).
#pragma once
#include <cstdint>

namespace pillow {

// out[n] = silu(gate[n]) · up[n] for n < count (any [N, I] layout, element-wise).
void swiglu_forward(float* out, const float* gate, const float* up, int64_t count);

// Overwrites dgate[n], dup[n] from dout[n] and the forward's inputs.
void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int64_t count);

}  // namespace pillow
