// The sampler's per-element pass: z = (logit - max) · (1 / temperature) and weight = exp(z), eight
// lanes at a time with a Cephes-style exp (error ~1 ulp over the range the sampler uses, z <= 0).
#pragma once
#include <cstdint>
#include <cstring>

#include "ops/cpu/kernels/vector.h"

namespace PILLOW_ISA_NAMESPACE {

typedef int32_t int8x __attribute__((vector_size(32)));

// exp(x) for x <= 0; results below ~1e-38 flush to 0 (a probability no draw can hit).
inline float8 exp_nonpositive8(float8 x) {
  const float8 lowest = broadcast8(-87.3f);
  const int8x too_small = x < lowest;
  x = x < lowest ? lowest : x;
  const float8 scaled = x * broadcast8(1.44269504088896341f);
  // round to nearest: add and subtract 1.5·2^23
  const float8 magic = broadcast8(12582912.0f);
  const float8 n = (scaled + magic) - magic;
  float8 r = x - n * broadcast8(0.693359375f);
  r = r - n * broadcast8(-2.12194440e-4f);
  float8 p = broadcast8(1.9875691500e-4f);
  p = p * r + broadcast8(1.3981999507e-3f);
  p = p * r + broadcast8(8.3334519073e-3f);
  p = p * r + broadcast8(4.1665795894e-2f);
  p = p * r + broadcast8(1.6666665459e-1f);
  p = p * r + broadcast8(5.0000001201e-1f);
  p = p * r * r + r + broadcast8(1.0f);
  int8x exponent = __builtin_convertvector(n, int8x);
  exponent = (exponent + 127) << 23;
  float8 scale;
  std::memcpy(&scale, &exponent, sizeof(scale));
  float8 result = p * scale;
  const float8 zero = broadcast8(0.0f);
  return too_small ? zero : result;
}

inline float exp_nonpositive(float x) {
  float8 v = broadcast8(x);
  return exp_nonpositive8(v)[0];
}

// z[i] = (z[i] - max_value) * inverse_temperature; weight[i] = exp(z[i]).
inline void sampling_weights(float* weight, float* z, int64_t n, float max_value, float inverse_temperature) {
  const float8 max8 = broadcast8(max_value), inverse8 = broadcast8(inverse_temperature);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float8 scaled = (load8(z + i) - max8) * inverse8;
    std::memcpy(z + i, &scaled, sizeof(scaled));
    const float8 e = exp_nonpositive8(scaled);
    std::memcpy(weight + i, &e, sizeof(e));
  }
  for (; i < n; ++i) {
    z[i] = (z[i] - max_value) * inverse_temperature;
    weight[i] = exp_nonpositive(z[i]);
  }
}

}  // namespace PILLOW_ISA_NAMESPACE
