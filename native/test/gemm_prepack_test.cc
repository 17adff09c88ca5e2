// Prepacked B operands (GemmOperand::prepacked) are a cache: every product must come out bit for bit
// as it does from the operand packed on the fly, whether a K block is the prepacked part alone (read
// in place) or shares the block with another segment (copied next to it), for f32 and bf16 data.
#include <cstring>
#include <vector>

#include "ops/common/bf16.h"
#include "ops/cpu/gemm.h"
#include "reference.h"
#include "runtime/thread_pool.h"
#include "test_harness.h"

using namespace pillow;
using namespace pillow_test;

namespace {

// c = x·Wᵀ (+ u·Bᵀ as a second segment when `lora`), W [n, k] as B either way round: `transposed`
// stores it [k, n] and reads it down its columns (the dy·W form).
std::vector<float> product(const std::vector<float>& x, const void* w, WeightType type, const float* prepacked,
                           const std::vector<float>& u, const std::vector<float>& b, int64_t m, int64_t n, int64_t k,
                           int64_t r, bool transposed, bool lora) {
  std::vector<float> c(static_cast<size_t>(m * n), -7.0f);
  GemmOperand weight = transposed ? GemmOperand{w, type, 1, n} : GemmOperand{w, type, k, 1};
  weight.prepacked = prepacked;
  const GemmSegment segments[2] = {GemmSegment{f32_operand(x.data(), k, 1), weight, k},
                                   GemmSegment{f32_operand(u.data(), r, 1), f32_operand(b.data(), r, 1), r}};
  gemm(c.data(), n, m, n, segments, lora ? 2 : 1, false);
  return c;
}

}  // namespace

TEST(gemm_prepacked_operands_give_bit_identical_products) {
  struct Shape {
    int64_t m, n, k;
  };
  // n not a multiple of the panel width; k above 2048 so the K loop has several blocks.
  const Shape shapes[] = {{7, 37, 19}, {50, 70, 300}, {64, 100, 2500}};
  const int64_t r = 8;
  uint32_t seed = 100;
  for (const Shape& s : shapes) {
    auto x = random_vector(static_cast<size_t>(s.m * s.k), seed++);
    auto w = random_vector(static_cast<size_t>(s.n * s.k), seed++);
    auto u = random_vector(static_cast<size_t>(s.m * r), seed++);
    auto b = random_vector(static_cast<size_t>(s.n * r), seed++);
    std::vector<uint16_t> w_bf16(w.size());
    for (size_t i = 0; i < w.size(); ++i) w_bf16[i] = f32_to_bf16(w[i]);
    for (WeightType type : {WeightType::F32, WeightType::BF16}) {
      const void* data = type == WeightType::F32 ? static_cast<const void*>(w.data()) : w_bf16.data();
      for (bool transposed : {false, true}) {
        // Transposed: the same values viewed as [k, n] (w reinterpreted; shapes only have to agree).
        const GemmOperand weight = transposed ? GemmOperand{data, type, 1, s.n} : GemmOperand{data, type, s.k, 1};
        std::vector<float> packed(static_cast<size_t>(gemm_prepacked_size(s.n, s.k)));
        gemm_prepack(packed.data(), weight, s.n, s.k);
        for (bool lora : {false, true}) {
          const auto expected = product(x, data, type, nullptr, u, b, s.m, s.n, s.k, r, transposed, lora);
          const auto actual = product(x, data, type, packed.data(), u, b, s.m, s.n, s.k, r, transposed, lora);
          CHECK(std::memcmp(expected.data(), actual.data(), sizeof(float) * expected.size()) == 0);
        }
      }
    }
    // And against a plain reference, so a packing bug shared by both paths is caught too.
    std::vector<float> packed(static_cast<size_t>(gemm_prepacked_size(s.n, s.k)));
    gemm_prepack(packed.data(), GemmOperand{w.data(), WeightType::F32, s.k, 1}, s.n, s.k);
    const auto actual = product(x, w.data(), WeightType::F32, packed.data(), u, b, s.m, s.n, s.k, r, false, false);
    const auto expected = reference_matmul(x, w, s.m, s.k, s.n);
    for (size_t i = 0; i < expected.size(); ++i) CHECK_NEAR(actual[i], expected[i], 1e-4);
  }
}
