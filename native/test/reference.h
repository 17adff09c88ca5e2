// Plain, obviously-correct references the native tests compare the optimised ops against.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

namespace pillow_test {

inline std::vector<float> random_vector(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// out[t, o] = sum_k x[t, k] * w[o, k], accumulated in double.
inline std::vector<float> reference_matmul(const std::vector<float>& x, const std::vector<float>& w, int64_t tokens,
                                           int64_t in_features, int64_t out_features) {
  std::vector<float> out(tokens * out_features);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t o = 0; o < out_features; ++o) {
      double acc = 0;
      for (int64_t k = 0; k < in_features; ++k) acc += double(x[t * in_features + k]) * w[o * in_features + k];
      out[t * out_features + o] = float(acc);
    }
  return out;
}

}  // namespace pillow_test
