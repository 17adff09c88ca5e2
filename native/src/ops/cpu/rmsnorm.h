// RMSNorm as in LLaMA: out = x / sqrt(mean(x²) + eps) · weight, computed in f32.
#pragma once
#include <cstdint>

namespace pillow {

// out[N, H], rstd[N] (1/rms per row, kept for the backward; may be nullptr); x[N, H], weight[H].
void rmsnorm_forward(float* out, float* rstd, const float* x, const float* weight, int64_t rows, int64_t hidden,
                     float eps);

// dx[N, H] += ∂L/∂x (accumulates, so the residual stream's gradient can be passed straight in);
// dweight[H] += ∂L/∂weight when not nullptr. dout[N, H], x[N, H], weight[H], rstd[N] from the forward.
void rmsnorm_backward(float* dx, float* dweight, const float* dout, const float* x, const float* weight,
                      const float* rstd, int64_t rows, int64_t hidden);

}  // namespace pillow
