// The sampler: greedy, seeds, filter support, penalties and error handling, against direct math.
#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "ops/cpu/sample.h"
#include "reference.h"
#include "runtime/errors.h"
#include "test_harness.h"

using namespace pillow;
using namespace pillow_test;

namespace {

std::string code_of_sample(const std::vector<float>& logits, int64_t rows, int64_t vocab, const SamplingOptions& options) {
  std::vector<int32_t> tokens(rows);
  std::vector<float> logprobs(rows);
  std::vector<uint64_t> seeds(rows, 1);
  try {
    sample_forward(tokens.data(), logprobs.data(), logits.data(), rows, vocab, options, seeds.data(), nullptr, nullptr);
  } catch (const PillowError& e) {
    return e.code();
  }
  return "none";
}

}  // namespace

TEST(sample_greedy_picks_argmax_with_logprob_zero) {
  std::vector<float> logits = {0.1f, 3.0f, -2.0f, 3.0f, 1.0f, /* row 2 */ 5.0f, 4.0f, 3.0f, 2.0f, 1.0f};
  SamplingOptions options;
  options.temperature = 0;
  int32_t tokens[2];
  float logprobs[2];
  uint64_t seeds[2] = {1, 2};
  sample_forward(tokens, logprobs, logits.data(), 2, 5, options, seeds, nullptr, nullptr);
  CHECK(tokens[0] == 1);  // ties go to the lowest id
  CHECK(tokens[1] == 0);
  CHECK(logprobs[0] == 0.0f);
}

TEST(sample_respects_top_k_top_p_min_p_support_and_logprob) {
  const int64_t vocab = 50;
  auto logits = random_vector(vocab, 5, 3.0f);
  // Exact support by brute force: sort descending.
  std::vector<int> order(vocab);
  for (int i = 0; i < vocab; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](int l, int r) { return logits[l] > logits[r]; });
  SamplingOptions options;
  options.top_k = 10;
  options.top_p = 0.6f;
  double top_k_mass = 0;
  for (int i = 0; i < 10; ++i) top_k_mass += std::exp(double(logits[order[i]]) - logits[order[0]]);
  std::set<int> nucleus;
  double cumulative = 0;
  for (int i = 0; i < 10; ++i) {
    nucleus.insert(order[i]);
    cumulative += std::exp(double(logits[order[i]]) - logits[order[0]]);
    if (cumulative >= 0.6 * top_k_mass) break;
  }
  std::set<int> seen;
  for (uint64_t seed = 0; seed < 2000; ++seed) {
    int32_t token;
    float logprob;
    sample_forward(&token, &logprob, logits.data(), 1, vocab, options, &seed, nullptr, nullptr);
    CHECK(nucleus.count(token) == 1);
    seen.insert(token);
    CHECK_NEAR(logprob, double(logits[token]) - logits[order[0]] - std::log(cumulative), 1e-5);
  }
  CHECK(seen.size() == nucleus.size());
}

TEST(sample_is_deterministic_by_seed_and_matches_frequencies) {
  std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  SamplingOptions options;
  int counts[3] = {0, 0, 0};
  const int draws = 20000;
  for (uint64_t seed = 0; seed < draws; ++seed) {
    int32_t first, second;
    float logprob;
    sample_forward(&first, &logprob, logits.data(), 1, 3, options, &seed, nullptr, nullptr);
    sample_forward(&second, &logprob, logits.data(), 1, 3, options, &seed, nullptr, nullptr);
    CHECK(first == second);
    counts[first] += 1;
  }
  // Chi-square with 2 degrees of freedom; 13.8 is the 0.001 critical value.
  const double expected[3] = {0.5 * draws, 0.3 * draws, 0.2 * draws};
  double chi2 = 0;
  for (int i = 0; i < 3; ++i) chi2 += (counts[i] - expected[i]) * (counts[i] - expected[i]) / expected[i];
  CHECK(chi2 < 13.8);
}

TEST(sample_penalties_match_hand_computed_logits) {
  // logits [2, -1, 0.5, 1.9]; history: token 0 twice, token 1 once.
  // repetition 2: t0 -> 1, t1 -> -2; frequency 0.25: t0 -> 0.5, t1 -> -2.25; presence 0.1: t0 -> 0.4.
  // So token 3 (1.9) is the greedy pick, not token 0.
  std::vector<float> logits = {2.0f, -1.0f, 0.5f, 1.9f};
  const int32_t history[3] = {0, 1, 0};
  const int32_t* histories[1] = {history};
  const int64_t counts[1] = {3};
  SamplingOptions options;
  options.temperature = 0;
  options.repetition_penalty = 2.0f;
  options.frequency_penalty = 0.25f;
  options.presence_penalty = 0.1f;
  int32_t token;
  float logprob;
  uint64_t seed = 3;
  sample_forward(&token, &logprob, logits.data(), 1, 4, options, &seed, histories, counts);
  CHECK(token == 3);
  CHECK_NEAR(penalised_logit(2.0f, 2, 2.0f, 0.25f, 0.1f), 0.4, 1e-6);
  CHECK_NEAR(penalised_logit(-1.0f, 1, 2.0f, 0.25f, 0.1f), -2.35, 1e-6);
  // With temperature 1 the logprob of the drawn token follows from the penalised logits.
  options.temperature = 1;
  sample_forward(&token, &logprob, logits.data(), 1, 4, options, &seed, histories, counts);
  const double penalised[4] = {0.4, -2.35, 0.5, 1.9};
  double total = 0;
  for (double v : penalised) total += std::exp(v);
  CHECK_NEAR(logprob, penalised[token] - std::log(total), 1e-5);
}

TEST(sample_rejects_nonfinite_logits_and_bad_options) {
  SamplingOptions options;
  std::vector<float> logits = {0.0f, 1.0f, NAN, 2.0f};
  CHECK(code_of_sample(logits, 2, 2, options) == kErrorNonFiniteLogits);
  logits[2] = INFINITY;
  CHECK(code_of_sample(logits, 1, 4, options) == kErrorNonFiniteLogits);
  logits[2] = -INFINITY;
  CHECK(code_of_sample(logits, 1, 4, options) == kErrorNonFiniteLogits);
  logits[2] = 0.0f;
  CHECK(code_of_sample(logits, 1, 4, options) == "none");
  CHECK(code_of_sample(logits, 0, 4, options) == kErrorShape);
  SamplingOptions bad = options;
  bad.top_p = 0;
  CHECK(code_of_sample(logits, 1, 4, bad) == kErrorArgument);
  bad = options;
  bad.temperature = -1;
  CHECK(code_of_sample(logits, 1, 4, bad) == kErrorArgument);
  bad = options;
  bad.min_p = 1.5f;
  CHECK(code_of_sample(logits, 1, 4, bad) == kErrorArgument);
  bad = options;
  bad.top_k = -3;
  CHECK(code_of_sample(logits, 1, 4, bad) == kErrorArgument);
  const int32_t history[1] = {4};
  const int32_t* histories[1] = {history};
  const int64_t counts[1] = {1};
  int32_t token;
  float logprob;
  uint64_t seed = 1;
  bool threw = false;
  try {
    sample_forward(&token, &logprob, logits.data(), 1, 4, options, &seed, histories, counts);
  } catch (const PillowError& e) {
    threw = std::string(e.code()) == kErrorArgument;
  }
  CHECK(threw);
}
