// A linear layer's bias (Qwen2's q/k/v projections): added to every row, and its gradient summed
// over the rows.
#pragma once
#include <cstdint>

namespace pillow {

// y[N, width] += bias[width] for every row.
void bias_forward(float* y, const float* bias, int64_t rows, int64_t width);

// dbias[width] += Σ_rows dy[r, :] (accumulates).
void bias_backward(float* dbias, const float* dy, int64_t rows, int64_t width);

}  // namespace pillow
