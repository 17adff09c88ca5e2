// Rotary position embedding math shared by CPU and CUDA, in Hugging Face's rotate_half layout:
// a head vector x of size D is split in halves (x1 = x[0:D/2], x2 = x[D/2:D]) and
//   out[i]       = x1[i]·cos θᵢ − x2[i]·sin θᵢ
//   out[i + D/2] = x2[i]·cos θᵢ + x1[i]·sin θᵢ          with θᵢ = position · inv_freq[i].
// (Meta's original interleaved layout pairs x[2i], x[2i+1] instead; HF checkpoints permute q/k rows
// so that rotate_half is right for them, and so do we.)
#pragma once
#include "ops/common/host_device.h"

namespace pillow {

PILLOW_HOST_DEVICE void rope_rotate(float* out, const float* x, const float* cos_row, const float* sin_row,
                                    int half) {
  for (int i = 0; i < half; ++i) {
    const float x1 = x[i], x2 = x[i + half];
    out[i] = x1 * cos_row[i] - x2 * sin_row[i];
    out[i + half] = x2 * cos_row[i] + x1 * sin_row[i];
  }
}

// The transpose of rope_rotate (a rotation by −θ): the gradient with respect to the input.
PILLOW_HOST_DEVICE void rope_rotate_backward(float* dx, const float* dout, const float* cos_row,
                                             const float* sin_row, int half) {
  for (int i = 0; i < half; ++i) {
    const float d1 = dout[i], d2 = dout[i + half];
    dx[i] = d1 * cos_row[i] + d2 * sin_row[i];
    dx[i + half] = d2 * cos_row[i] - d1 * sin_row[i];
  }
}

}  // namespace pillow
