// libFuzzer target for the LoRA matmul family on small arbitrary shapes and values: the fused
// forward must agree with a plain double-precision reference whenever the inputs are finite, and
// bad dimensions must be refused with a PillowError, never a crash or an out-of-bounds access.
#include <cmath>
#include <cstdint>
#include <vector>

#include "fuzz_input.h"
#include "ops/cpu/lora_matmul.h"
#include "runtime/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pillow_fuzz::FuzzInput input(data, size);
  const int64_t tokens = input.take_in_range(0, 9);
  const int64_t in_features = input.take_in_range(0, 40);
  const int64_t out_features = input.take_in_range(0, 40);
  const int64_t rank = input.take_in_range(0, 9);
  const float scale = static_cast<float>(input.take_in_range(-8, 8)) / 4.0f;
  auto values = [&](int64_t n) {
    std::vector<float> v(n > 0 ? n : 1);
    for (auto& x : v) x = static_cast<float>(input.take<int8_t>()) / 16.0f;  // finite, exact in f32
    return v;
  };
  std::vector<float> x = values(tokens * in_features), w = values(out_features * in_features);
  std::vector<float> a = values(rank * in_features), b = values(out_features * rank);
  std::vector<float> y(tokens * out_features > 0 ? tokens * out_features : 1, NAN);
  try {
    pillow::lora_matmul_forward(y.data(), x.data(), pillow::WeightView{w.data(), pillow::WeightType::F32}, a.data(),
                                b.data(), tokens, in_features, out_features, rank, scale);
  } catch (const pillow::PillowError&) {
    if (tokens >= 1 && in_features >= 1 && out_features >= 1) __builtin_trap();  // valid shapes must run
    return 0;
  }
  if (tokens < 1 || in_features < 1 || out_features < 1) __builtin_trap();  // invalid shapes must be refused
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t o = 0; o < out_features; ++o) {
      double expected = 0;
      for (int64_t k = 0; k < in_features; ++k) expected += double(x[t * in_features + k]) * w[o * in_features + k];
      for (int64_t r = 0; r < rank; ++r) {
        double xa = 0;
        for (int64_t k = 0; k < in_features; ++k) xa += double(x[t * in_features + k]) * a[r * in_features + k];
        expected += double(scale) * xa * b[o * rank + r];
      }
      const double actual = y[t * out_features + o];
      if (!(std::fabs(actual - expected) <= 1e-3 * (1.0 + std::fabs(expected)))) __builtin_trap();
    }
  }
  return 0;
}
