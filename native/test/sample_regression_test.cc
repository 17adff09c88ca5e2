// Regressions found by the libFuzzer targets in fuzz/: each case once crashed or misbehaved.
#include <cmath>
#include <vector>

#include "ops/cpu/sample.h"
#include "test_harness.h"

using namespace pillow;

TEST(sample_extreme_repetition_penalty_gives_a_finite_logprob) {
  // fuzz/sample_fuzz.cc: repetition_penalty 2.7e-32 divided a 2.75e30 logit to +Inf; Inf - Inf made
  // the row NaN and the log-probability NaN. Penalties now compute in double and saturate.
  SamplingOptions options;
  options.temperature = 1.0f;
  options.repetition_penalty = 2.67825e-32f;
  options.frequency_penalty = 3e38f;  // count · f overflows f32 too
  const std::vector<float> logits = {2.75403e30f, -1.0f, 5.0f};
  const int32_t history[] = {0, 0, 1};
  const int32_t* histories[] = {history};
  const int64_t counts[] = {3};
  const uint64_t seeds[] = {1};
  int32_t token = -1;
  float logprob = 1.0f;
  sample_forward(&token, &logprob, logits.data(), 1, 3, options, seeds, histories, counts);
  CHECK(token >= 0 && token < 3);
  CHECK(std::isfinite(logprob) && logprob <= 0.0f);
  // Token 0's penalised logit saturates at +FLT_MAX; token 1's penalised logit (-1·2.7e-32 - 3e38)
  // stays finite; token 2 is untouched: token 0 dominates every other token by ~3.4e38.
  CHECK(token == 0);
}

TEST(sample_one_token_vocab_with_denormal_temperature) {
  // fuzz/sample_fuzz.cc: vocab 1, temperature 7.8e-39 (a denormal) and a penalised huge logit.
  SamplingOptions options;
  options.temperature = 7.80602e-39f;
  options.repetition_penalty = 2.67825e-32f;
  const std::vector<float> logits = {2.75403e30f};
  const int32_t history[] = {0};
  const int32_t* histories[] = {history};
  const int64_t counts[] = {1};
  const uint64_t seeds[] = {7};
  int32_t token = -1;
  float logprob = 1.0f;
  bool refused = false;
  try {
    sample_forward(&token, &logprob, logits.data(), 1, 1, options, seeds, histories, counts);
  } catch (const std::exception&) {
    refused = true;  // a temperature whose inverse overflows is refused with E_ARGUMENT: also fine
  }
  CHECK(refused || (token == 0 && logprob == 0.0f));
}

TEST(sample_top_p_with_a_denormal_logit_spread) {
  // fuzz/sample_fuzz.cc under UBSan: when the logits differ by a denormal, the top-p histogram's
  // scale was infinite and -z·scale overflowed the int bucket index (undefined behaviour).
  SamplingOptions options;
  options.top_p = 0.5f;
  const std::vector<float> logits = {0.0f, -1e-44f, -2e-44f};
  const uint64_t seeds[] = {3};
  int32_t token = -1;
  float logprob = 1.0f;
  sample_forward(&token, &logprob, logits.data(), 1, 3, options, seeds, nullptr, nullptr);
  CHECK(token >= 0 && token < 3);
  CHECK(std::isfinite(logprob) && logprob <= 0.0f);
}
