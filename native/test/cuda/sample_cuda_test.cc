// The CUDA sampler against the CPU op: the same tokens for the same seeds under every filter, the
// same support (ties at the top-k boundary kept), log-probabilities within 2e-5 (the device's expf
// and the CPU's vectorised exp differ in the last bits), and the same error codes.
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "cuda/cuda_test_support.h"
#include "ops/cpu/sample.h"
#include "ops/cuda/sample_cuda.h"
#include "reference.h"
#include "runtime/errors.h"
#include "test_harness.h"

using namespace pillow;
using namespace pillow_test;

namespace {

struct Draws {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
};

Draws sample_cpu(const std::vector<float>& logits, int64_t rows, int64_t vocab, const SamplingOptions& options,
                 const std::vector<uint64_t>& seeds, const std::vector<std::vector<int32_t>>* history = nullptr) {
  Draws d{std::vector<int32_t>(rows), std::vector<float>(rows)};
  std::vector<const int32_t*> pointers;
  std::vector<int64_t> counts;
  if (history) {
    for (const auto& h : *history) {
      pointers.push_back(h.empty() ? nullptr : h.data());
      counts.push_back(static_cast<int64_t>(h.size()));
    }
  }
  sample_forward(d.tokens.data(), d.logprobs.data(), logits.data(), rows, vocab, options, seeds.data(),
                 history ? pointers.data() : nullptr, history ? counts.data() : nullptr);
  return d;
}

Draws sample_cuda(const std::vector<float>& logits, int64_t rows, int64_t vocab, const SamplingOptions& options,
                  const std::vector<uint64_t>& seeds, const std::vector<std::vector<int32_t>>* history = nullptr) {
  auto device_logits = to_device(logits);
  auto device_seeds = to_device(seeds);
  DeviceBuffer<int32_t> tokens(rows);
  DeviceBuffer<float> logprobs(rows);
  std::vector<DeviceBuffer<int32_t>> device_history;
  std::vector<const int32_t*> pointers;
  std::vector<int64_t> counts;
  if (history) {
    for (const auto& h : *history) {
      device_history.push_back(to_device(h));
      pointers.push_back(device_history.back().data());
      counts.push_back(static_cast<int64_t>(h.size()));
    }
  }
  sample_forward_cuda(tokens.data(), logprobs.data(), device_logits.data(), rows, vocab, options, device_seeds.data(),
                      history ? pointers.data() : nullptr, history ? counts.data() : nullptr);
  return Draws{tokens.to_host(), logprobs.to_host()};
}

std::vector<uint64_t> seeds_from(uint64_t first, int64_t rows) {
  std::vector<uint64_t> seeds(rows);
  for (int64_t r = 0; r < rows; ++r) seeds[r] = first + static_cast<uint64_t>(r) * 7919;
  return seeds;
}

// The same logits row repeated: one launch draws `rows` times with different seeds.
std::vector<float> repeat_row(const std::vector<float>& row, int64_t rows) {
  std::vector<float> out;
  for (int64_t r = 0; r < rows; ++r) out.insert(out.end(), row.begin(), row.end());
  return out;
}

void check_same_draws(const Draws& cpu, const Draws& cuda) {
  CHECK(cpu.tokens == cuda.tokens);
  for (size_t r = 0; r < cpu.logprobs.size(); ++r) CHECK_NEAR(cuda.logprobs[r], cpu.logprobs[r], 2e-5);
}

std::string code_of_cuda_sample(const std::vector<float>& logits, int64_t rows, int64_t vocab, const SamplingOptions& options) {
  try {
    sample_cuda(logits, rows, vocab, options, seeds_from(1, rows));
  } catch (const PillowError& e) {
    return e.code();
  }
  return "none";
}

}  // namespace

// The top-k bisection once started at low = 0, high = 0xffffffff: (high - low + 1) wrapped to 0 in
// 32 bits, mid stayed 0 and the loop never ended, so the first top-k request hung the GPU.
TEST(cuda_sample_top_k_finishes_and_matches_cpu) {
  const int64_t vocab = 37, rows = 3;
  const auto row = random_vector(vocab, 11, 2.0f);
  SamplingOptions options;
  options.top_k = 5;
  const auto logits = repeat_row(row, rows);
  const auto seeds = seeds_from(5, rows);
  Draws cuda;
  finishes_within(120, "the CUDA top-k sample", [&] { cuda = sample_cuda(logits, rows, vocab, options, seeds); });
  check_same_draws(sample_cpu(logits, rows, vocab, options, seeds), cuda);
}

TEST(cuda_sample_greedy_matches_cpu_bit_for_bit_with_ties_to_the_lowest_id) {
  // Row 0 ties at 3.0 (ids 1 and 3); 600 > 512 threads per block, so a row spans several strides.
  std::vector<float> logits = random_vector(2 * 600, 3, 1.0f);
  logits[1] = 3.0f;
  logits[3] = 3.0f;
  logits[600 + 599] = 5.0f;
  SamplingOptions options;
  options.temperature = 0;
  const auto seeds = seeds_from(1, 2);
  const Draws cuda = sample_cuda(logits, 2, 600, options, seeds);
  CHECK(cuda.tokens[0] == 1);
  CHECK(cuda.tokens[1] == 599);
  CHECK(cuda.logprobs[0] == 0.0f && cuda.logprobs[1] == 0.0f);
  CHECK(sample_cpu(logits, 2, 600, options, seeds).tokens == cuda.tokens);
}

TEST(cuda_sample_filters_match_cpu_for_many_seeds) {
  const int64_t vocab = 53, rows = 8;  // odd vocabulary, one block per row
  const auto row = random_vector(vocab, 21, 3.0f);
  const auto logits = repeat_row(row, rows);
  std::vector<SamplingOptions> cases(6);
  cases[0].temperature = 0.7f;                          // temperature alone
  cases[1].top_k = 7;                                   // top-k
  cases[2].top_p = 0.6f;                                // top-p
  cases[3].min_p = 0.2f;                                // min-p
  cases[4].top_k = 12, cases[4].top_p = 0.8f, cases[4].temperature = 1.3f;  // composed
  cases[5].top_k = vocab;                               // k = vocab: off
  for (size_t c = 0; c < cases.size(); ++c) {
    const auto seeds = seeds_from(100 + c, rows);
    check_same_draws(sample_cpu(logits, rows, vocab, cases[c], seeds), sample_cuda(logits, rows, vocab, cases[c], seeds));
  }
}

TEST(cuda_sample_keeps_ties_at_the_top_k_boundary) {
  // Values 4, 3, 2, 2, 2, 1, 0, ...: top-k 3 keeps {4, 3} and all three 2s (ties with the k-th).
  const int64_t vocab = 40, rows = 24;
  std::vector<float> row(vocab, 0.0f);
  row[10] = 4.0f, row[20] = 3.0f, row[5] = 2.0f, row[25] = 2.0f, row[39] = 2.0f, row[0] = 1.0f;
  SamplingOptions options;
  options.top_k = 3;
  const auto seeds = seeds_from(9, rows);
  const Draws cuda = sample_cuda(repeat_row(row, rows), rows, vocab, options, seeds);
  const std::set<int32_t> support = {10, 20, 5, 25, 39};
  std::set<int32_t> seen(cuda.tokens.begin(), cuda.tokens.end());
  for (int32_t token : seen) CHECK(support.count(token) == 1);
  CHECK(seen.count(5) + seen.count(25) + seen.count(39) >= 2);  // 24 draws reach the tied tokens
  check_same_draws(sample_cpu(repeat_row(row, rows), rows, vocab, options, seeds), cuda);
}

TEST(cuda_sample_penalties_match_cpu) {
  const int64_t vocab = 29, rows = 4;
  const auto logits = random_vector(vocab * rows, 8, 2.0f);
  const std::vector<std::vector<int32_t>> history = {{0, 3, 3, 28}, {}, {7}, {1, 1, 1, 2, 5, 28}};
  SamplingOptions options;
  options.repetition_penalty = 1.7f;
  options.frequency_penalty = 0.3f;
  options.presence_penalty = 0.2f;
  const auto seeds = seeds_from(77, rows);
  check_same_draws(sample_cpu(logits, rows, vocab, options, seeds, &history),
                   sample_cuda(logits, rows, vocab, options, seeds, &history));
  options.temperature = 0;
  CHECK(sample_cpu(logits, rows, vocab, options, seeds, &history).tokens ==
        sample_cuda(logits, rows, vocab, options, seeds, &history).tokens);
}

TEST(cuda_sample_rejects_nonfinite_rows_and_bad_options_like_cpu) {
  SamplingOptions options;
  std::vector<float> logits = {0.0f, 1.0f, 2.0f, 3.0f, 0.5f, NAN, 2.0f, 1.0f};
  CHECK(code_of_cuda_sample(logits, 2, 4, options) == kErrorNonFiniteLogits);
  logits[5] = -INFINITY;
  CHECK(code_of_cuda_sample(logits, 2, 4, options) == kErrorNonFiniteLogits);
  logits[5] = 0.0f;
  CHECK(code_of_cuda_sample(logits, 2, 4, options) == "none");
  SamplingOptions bad = options;
  bad.top_p = 0;
  CHECK(code_of_cuda_sample(logits, 2, 4, bad) == kErrorArgument);
  bad = options;
  bad.temperature = -1;
  CHECK(code_of_cuda_sample(logits, 2, 4, bad) == kErrorArgument);
  try {
    sample_cuda(logits, 2, 4, options, seeds_from(1, 2));
    logits[6] = NAN;
    sample_cuda(logits, 2, 4, options, seeds_from(1, 2));
    CHECK(false);
  } catch (const PillowError& e) {
    CHECK(std::string(e.what()).find("row 1") != std::string::npos);
    CHECK(std::string(e.what()).find("index 2") != std::string::npos);
  }
}
