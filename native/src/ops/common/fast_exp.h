// exp(x) for the softmax of attention, written so that compilers vectorise loops over it (std::exp
// calls are not vectorised without -ffast-math). Range reduction x = n·ln2 + r with |r| <= ln2/2,
// then a degree-6 polynomial for e^r (Cephes' expf coefficients): relative error ~2e-7 over the
// normal range. Inputs below −87 give 0 (as e^x underflows there anyway); +inf is not expected
// (softmax inputs are <= 0 after subtracting the row max).
#pragma once
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops/common/host_device.h"

namespace pillow {

PILLOW_HOST_DEVICE float fast_exp(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float n = floorf(x * 1.44269504088896341f + 0.5f);
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
#if defined(__CUDA_ARCH__)
  const float scale = __int_as_float(bits);
#else
  float scale;
  memcpy(&scale, &bits, sizeof(scale));
#endif
  return p * scale;
}

}  // namespace pillow
