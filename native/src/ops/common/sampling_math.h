// Per-element sampling math shared by the CPU and CUDA samplers: options, penalties, and the
// counter-based random number that makes a row's draw depend only on its seed.
#pragma once
#include <cstdint>

#include "ops/common/host_device.h"

namespace pillow {

// Filters are applied in this order: penalties, temperature, top-k, top-p, min-p (as HF does).
// temperature 0 means greedy (argmax after penalties); top_k 0 and top_p 1 and min_p 0 mean "off".
struct SamplingOptions {
  float temperature = 1, top_p = 1, min_p = 0, repetition_penalty = 1, frequency_penalty = 0, presence_penalty = 0;
  int32_t top_k = 0;
};

// Applies the penalties of a token seen `count` (> 0) times before: the repetition penalty as in
// CTRL/HF (divide a positive logit, multiply a negative one), then OpenAI-style frequency and
// presence penalties (subtract count·f and p).
PILLOW_HOST_DEVICE float penalised_logit(float logit, int64_t count, float repetition_penalty, float frequency_penalty,
                                         float presence_penalty) {
  if (count <= 0) return logit;
  // In double: extreme but legal penalties (e.g. 1e-32) overflow f32 to ±Inf, and Inf - Inf later
  // turns the whole row into NaN (found by fuzz/sample_fuzz.cc). Double cannot overflow for f32
  // inputs; the result saturates at the largest finite float.
  double value = logit > 0.0f ? static_cast<double>(logit) / repetition_penalty
                              : static_cast<double>(logit) * repetition_penalty;
  value -= static_cast<double>(count) * frequency_penalty;
  value -= presence_penalty;
  const double largest = 3.4028234663852886e+38;
  return static_cast<float>(value > largest ? largest : (value < -largest ? -largest : value));
}

// splitmix64: a full-period 64-bit mixer; the k-th number of a row is mix(seed + (k+1)·golden).
PILLOW_HOST_DEVICE uint64_t splitmix64(uint64_t state) {
  uint64_t z = state + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// A uniform double in [0, 1) with 53 random bits, the `draw`-th of the stream named by `seed`.
PILLOW_HOST_DEVICE double uniform_from_seed(uint64_t seed, uint64_t draw) {
  const uint64_t bits = splitmix64(seed + draw * 0x9e3779b97f4a7c15ull);
  return static_cast<double>(bits >> 11) * (1.0 / 9007199254740992.0);
}

}  // namespace pillow
