// libFuzzer target for the sampler: arbitrary option bits (NaN, Inf, negative, huge), arbitrary
// logits and token histories. Property: either a PillowError, or every token id is in [0, vocab)
// and every log-probability is finite and <= 0. Anything else (a crash, a sanitizer report, a bad
// id) is a finding.
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <vector>

#include "fuzz_input.h"
#include "ops/cpu/sample.h"
#include "runtime/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pillow_fuzz::FuzzInput input(data, size);
  const int64_t rows = input.take_in_range(1, 4);
  const int64_t vocab = input.take_in_range(1, 300);
  pillow::SamplingOptions options;
  options.temperature = input.take<float>();
  options.top_p = input.take<float>();
  options.min_p = input.take<float>();
  options.repetition_penalty = input.take<float>();
  options.frequency_penalty = input.take<float>();
  options.presence_penalty = input.take<float>();
  options.top_k = input.take<int32_t>();
  std::vector<float> logits(rows * vocab);
  for (auto& logit : logits) logit = input.take<float>();
  std::vector<uint64_t> seeds(rows);
  for (auto& seed : seeds) seed = input.take<uint64_t>();
  std::vector<std::vector<int32_t>> history(rows);
  std::vector<const int32_t*> history_pointers(rows);
  std::vector<int64_t> history_counts(rows);
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t count = input.take_in_range(0, 8);
    for (int64_t i = 0; i < count; ++i) history[row].push_back(input.take<int32_t>() % (vocab + 2));  // sometimes out of range
    history_pointers[row] = history[row].data();
    history_counts[row] = count;
  }
  const bool with_history = input.take<uint8_t>() & 1;
  std::vector<int32_t> tokens(rows, -7);
  std::vector<float> logprobs(rows, 1.0f);
  try {
    pillow::sample_forward(tokens.data(), logprobs.data(), logits.data(), rows, vocab, options, seeds.data(),
                           with_history ? history_pointers.data() : nullptr, history_counts.data());
  } catch (const pillow::PillowError&) {
    return 0;  // a typed, explained refusal is a correct outcome
  }
  for (int64_t row = 0; row < rows; ++row) {
    const bool valid_token = tokens[row] >= 0 && tokens[row] < vocab;
    const bool valid_logprob = std::isfinite(logprobs[row]) && logprobs[row] <= 1e-6f;
    if (!valid_token || !valid_logprob) {
      // Say what went wrong before the trap, so a finding can be turned into a regression test.
      std::fprintf(stderr, "row %lld: token %d logprob %g (vocab %lld; temperature %g top_p %g min_p %g top_k %d "
                   "repetition %g frequency %g presence %g)\n", static_cast<long long>(row), tokens[row], logprobs[row],
                   static_cast<long long>(vocab), options.temperature, options.top_p, options.min_p, options.top_k,
                   options.repetition_penalty, options.frequency_penalty, options.presence_penalty);
      __builtin_trap();
    }
  }
  return 0;
}
