// The CPU cross-entropy ops (ops/cpu/cross_entropy.h): a hand-computed row against double
// arithmetic, the fused forward-backward bit for bit against the two separate calls (the training
// step uses the fused one, the CUDA twins are checked against the separate ones), and bad labels.
#include <cmath>
#include <cstring>
#include <vector>

#include "error_code.h"
#include "ops/cpu/cross_entropy.h"
#include "reference.h"
#include "runtime/thread_pool.h"
#include "test_harness.h"

using namespace pillow;
using namespace pillow_test;

TEST(cross_entropy_matches_a_hand_computed_row) {
  // logits [1, 2, 3, 0.5], target 1: loss = log Σ exp − 2; gradient softmax − onehot, times 0.5.
  const std::vector<float> logits = {1.0f, 2.0f, 3.0f, 0.5f};
  const int32_t target = 1;
  double sum = 0.0;
  for (float v : logits) sum += std::exp(static_cast<double>(v));
  float loss = 0.0f;
  std::vector<float> d(4);
  CHECK(cross_entropy_forward_backward(&loss, d.data(), logits.data(), &target, 0.5f, 1, 4) == 1);
  CHECK_NEAR(loss, std::log(sum) - 2.0, 1e-6);
  for (int i = 0; i < 4; ++i) {
    const double expected = (std::exp(static_cast<double>(logits[i])) / sum - (i == target ? 1.0 : 0.0)) * 0.5;
    CHECK(std::fabs(d[i] - expected) < 1e-6);
  }
}

TEST(cross_entropy_forward_backward_equals_the_separate_calls_bit_for_bit) {
  uint32_t seed = 40;
  for (int threads : {1, 2}) {
    set_thread_count(threads);
    for (int64_t vocab : {1L, 7L, 16L, 33L, 1000L, 32000L}) {
      const int64_t rows = 9;
      auto logits = random_vector(rows * vocab, seed++, 8.0f);
      std::vector<int32_t> targets(rows);
      for (int64_t n = 0; n < rows; ++n) targets[n] = n % 4 == 3 ? kIgnoreIndex : static_cast<int32_t>((n * 7919) % vocab);
      std::vector<float> losses(rows), d(rows * vocab);
      const int64_t counted = cross_entropy_forward(losses.data(), logits.data(), targets.data(), rows, vocab);
      cross_entropy_backward(d.data(), logits.data(), targets.data(), 0.25f, rows, vocab);
      // Out of place and in place (dlogits aliasing logits, as the training step calls it).
      std::vector<float> fused_losses(rows, -1.0f), fused_d(rows * vocab, -1.0f), in_place = logits;
      CHECK(cross_entropy_forward_backward(fused_losses.data(), fused_d.data(), logits.data(), targets.data(), 0.25f,
                                           rows, vocab) == counted);
      std::vector<float> in_place_losses(rows);
      CHECK(cross_entropy_forward_backward(in_place_losses.data(), in_place.data(), in_place.data(), targets.data(),
                                           0.25f, rows, vocab) == counted);
      CHECK(std::memcmp(fused_losses.data(), losses.data(), sizeof(float) * rows) == 0);
      CHECK(std::memcmp(in_place_losses.data(), losses.data(), sizeof(float) * rows) == 0);
      CHECK(std::memcmp(fused_d.data(), d.data(), sizeof(float) * rows * vocab) == 0);
      CHECK(std::memcmp(in_place.data(), d.data(), sizeof(float) * rows * vocab) == 0);
      CHECK(counted == rows - rows / 4);
    }
  }
  set_thread_count(2);
}

TEST(cross_entropy_forward_backward_refuses_labels_outside_the_vocabulary) {
  const std::vector<float> logits(2 * 5, 0.0f);
  std::vector<float> losses(2), d(2 * 5);
  const std::vector<int32_t> bad = {1, 5};
  CHECK(error_code_of([&] {
          cross_entropy_forward_backward(losses.data(), d.data(), logits.data(), bad.data(), 1.0f, 2, 5);
        }) == "E_ARGUMENT");
  const std::vector<int32_t> negative = {-1, 0};
  CHECK(error_code_of([&] {
          cross_entropy_forward_backward(losses.data(), d.data(), logits.data(), negative.data(), 1.0f, 2, 5);
        }) == "E_ARGUMENT");
  CHECK(error_code_of([&] {
          cross_entropy_forward_backward(losses.data(), d.data(), logits.data(), bad.data(), 1.0f, 0, 5);
        }) == "E_SHAPE");
}
