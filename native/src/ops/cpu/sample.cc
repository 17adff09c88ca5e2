#include "ops/cpu/sample.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "ops/cpu/kernel_table.h"
#include "runtime/errors.h"
#include "runtime/thread_pool.h"

namespace pillow {

namespace {

struct RowScratch {
  std::vector<float> z;          // penalised, temperature-scaled logits minus their max (max is 0)
  std::vector<float> weight;     // exp(z): unnormalised probabilities, the largest is 1
  std::vector<int32_t> candidates;
  std::vector<int32_t> history;
  std::vector<float> values;     // scratch copy for top-k selection
};

std::string describe_nonfinite(float value) {
  if (std::isnan(value)) return "NaN";
  return value > 0 ? "+Infinity" : "-Infinity";
}

// The top-p boundary without sorting the vocabulary: the z-threshold τ such that the tokens with
// z >= τ are the smallest most-likely set holding at least `need` mass. One pass builds a
// histogram of mass over z-buckets, which locates the bucket holding the boundary; only that
// bucket's few tokens are then sorted. Tokens with z < lowest are known to lie outside.
float top_p_threshold(const float* z, const float* weight, int64_t n, float lowest, double need,
                      std::vector<int32_t>& boundary_tokens) {
  if (!(lowest < 0.0f)) return 0.0f;  // only the max (z = 0) can be kept
  constexpr int kBuckets = 2048;
  double mass[kBuckets] = {};
  // A tiny |lowest| (e.g. a denormal) would make the scale infinite and -value·scale overflow the
  // int cast (undefined behaviour, found by fuzz/sample_fuzz.cc under UBSan): clamp both.
  const float scale = std::min(static_cast<float>(kBuckets) / -lowest, std::numeric_limits<float>::max());
  auto bucket_of = [&](float value) {
    const float position = -value * scale;
    if (!(position > 0.0f)) return 0;
    return position < static_cast<float>(kBuckets) ? static_cast<int>(position) : kBuckets - 1;
  };
  for (int64_t i = 0; i < n; ++i) {
    if (z[i] >= lowest) mass[bucket_of(z[i])] += weight[i];
  }
  double above = 0;
  int boundary = 0;
  for (; boundary < kBuckets; ++boundary) {
    if (above + mass[boundary] >= need) break;
    above += mass[boundary];
  }
  if (boundary == kBuckets) return lowest;  // rounding: keep every candidate
  boundary_tokens.clear();
  for (int64_t i = 0; i < n; ++i) {
    if (z[i] >= lowest && bucket_of(z[i]) == boundary) boundary_tokens.push_back(static_cast<int32_t>(i));
  }
  std::sort(boundary_tokens.begin(), boundary_tokens.end(),
            [&](int32_t left, int32_t right) { return z[left] > z[right] || (z[left] == z[right] && left < right); });
  for (int32_t i : boundary_tokens) {
    above += weight[i];
    if (above >= need) return z[i];
  }
  return boundary_tokens.empty() ? lowest : z[boundary_tokens.back()];
}

void sample_row(int32_t* token_out, float* logprob_out, const float* logits, int64_t row, int64_t vocab,
                const SamplingOptions& options, uint64_t seed, const int32_t* history, int64_t history_count,
                RowScratch& scratch) {
  std::vector<float>& z = scratch.z;
  z.resize(static_cast<size_t>(vocab));
  bool finite = true;
  for (int64_t i = 0; i < vocab; ++i) {
    const float value = logits[i];
    finite &= (value - value) == 0.0f;  // false for NaN and ±Inf
    z[i] = value;
  }
  if (!finite) {
    for (int64_t i = 0; i < vocab; ++i) {
      if (!std::isfinite(logits[i])) {
        throw PillowError(kErrorNonFiniteLogits, "logits row " + std::to_string(row) + " has a non-finite value (" +
                                                     describe_nonfinite(logits[i]) + ") at index " + std::to_string(i));
      }
    }
  }
  const bool penalise = history != nullptr && history_count > 0 &&
                        (options.repetition_penalty != 1.0f || options.frequency_penalty != 0.0f ||
                         options.presence_penalty != 0.0f);
  if (penalise) {
    // Count each distinct previous token once (sorted copy), then penalise it once.
    std::vector<int32_t>& seen = scratch.history;
    seen.assign(history, history + history_count);
    std::sort(seen.begin(), seen.end());
    for (size_t i = 0; i < seen.size();) {
      size_t j = i;
      while (j < seen.size() && seen[j] == seen[i]) ++j;
      const int32_t id = seen[i];
      z[id] = penalised_logit(logits[id], static_cast<int64_t>(j - i), options.repetition_penalty,
                              options.frequency_penalty, options.presence_penalty);
      i = j;
    }
  }

  // The max by independent lanes (no loop-carried compare chain), then its first index.
  float lane_max[8];
  for (int j = 0; j < 8; ++j) lane_max[j] = z[0];
  int64_t i = 0;
  for (; i + 8 <= vocab; i += 8)
    for (int j = 0; j < 8; ++j) lane_max[j] = z[i + j] > lane_max[j] ? z[i + j] : lane_max[j];
  float max_seen = *std::max_element(lane_max, lane_max + 8);
  for (; i < vocab; ++i) max_seen = z[i] > max_seen ? z[i] : max_seen;
  int32_t best = static_cast<int32_t>(std::find(z.begin(), z.end(), max_seen) - z.begin());
  if (options.temperature == 0.0f) {
    *token_out = best;
    *logprob_out = 0.0f;  // greedy: the filtered distribution is a point mass
    return;
  }
  const float max_value = z[best];
  std::vector<float>& weight = scratch.weight;
  weight.resize(static_cast<size_t>(vocab));
  kernels().sampling_weights(weight.data(), z.data(), vocab, max_value, 1.0f / options.temperature);

  // Every filter is a threshold on z (kept: z >= threshold), so they compose by taking the max.
  float threshold = -std::numeric_limits<float>::infinity();
  if (options.top_k > 0 && options.top_k < vocab) {
    // The k-th largest z by selection on a copy of the values (linear time, sequential access).
    std::vector<float>& values = scratch.values;
    values.assign(z.begin(), z.end());
    std::nth_element(values.begin(), values.begin() + (options.top_k - 1), values.end(), std::greater<float>());
    threshold = values[options.top_k - 1];
  }
  if (options.top_p < 1.0f) {
    // Tokens lighter than (1 - p)/V together hold less than (1 - p) of the mass (the max weighs 1),
    // so none of them is in the nucleus: they are left out of the histogram, which keeps its
    // buckets narrow where the boundary can be.
    const float light = (1.0f - options.top_p) / static_cast<float>(vocab) * 0.999f;
    const float lowest = std::max(threshold, std::log(light));
    double mass = 0;
    for (int64_t i = 0; i < vocab; ++i) {
      if (z[i] >= threshold) mass += weight[i];
    }
    threshold = std::max(threshold, top_p_threshold(z.data(), weight.data(), vocab, lowest,
                                                    static_cast<double>(options.top_p) * mass, scratch.candidates));
  }
  const bool min_p = options.min_p > 0.0f;
  // min-p keeps p_i >= min_p · p_max; p_max is weight 1 (z = 0) before normalisation.
  double total = 0;
  for (int64_t i = 0; i < vocab; ++i) {
    if (z[i] >= threshold && (!min_p || weight[i] >= options.min_p)) total += weight[i];
  }
  const double target = uniform_from_seed(seed, 0) * total;
  double cumulative = 0;
  int32_t chosen = best;  // the max always survives every filter; also the rounding fallback
  for (int64_t i = 0; i < vocab; ++i) {
    if (z[i] >= threshold && (!min_p || weight[i] >= options.min_p)) {
      cumulative += weight[i];
      chosen = static_cast<int32_t>(i);
      if (cumulative > target) break;
    }
  }
  *token_out = chosen;
  *logprob_out = static_cast<float>(static_cast<double>(z[chosen]) - std::log(total));
}

}  // namespace

void check_sampling_options(const SamplingOptions& options) {
  auto fail = [](const std::string& message) { throw_argument_error("sample: " + message); };
  if (!(std::isfinite(options.temperature) && options.temperature >= 0.0f)) {
    fail("temperature must be a finite number >= 0, got " + std::to_string(options.temperature));
  }
  if (!(options.top_p > 0.0f && options.top_p <= 1.0f)) fail("topP must be in (0, 1], got " + std::to_string(options.top_p));
  if (!(options.min_p >= 0.0f && options.min_p <= 1.0f)) fail("minP must be in [0, 1], got " + std::to_string(options.min_p));
  if (options.top_k < 0) fail("topK must be >= 0 (0 = off), got " + std::to_string(options.top_k));
  if (!(std::isfinite(options.repetition_penalty) && options.repetition_penalty > 0.0f)) {
    fail("repetitionPenalty must be a finite number > 0, got " + std::to_string(options.repetition_penalty));
  }
  if (!std::isfinite(options.frequency_penalty)) fail("frequencyPenalty must be finite");
  if (!std::isfinite(options.presence_penalty)) fail("presencePenalty must be finite");
  if (options.temperature > 0.0f && !std::isfinite(1.0f / options.temperature)) {
    fail("temperature " + std::to_string(options.temperature) + " is too small (use 0 for greedy)");
  }
}

void sample_forward(int32_t* tokens, float* logprobs, const float* logits, int64_t rows, int64_t vocab,
                    const SamplingOptions& options, const uint64_t* seeds, const int32_t* const* previous_tokens,
                    const int64_t* previous_counts) {
  if (rows < 1 || vocab < 1) {
    throw_shape_error("sample: rows and vocab must be >= 1 (got " + std::to_string(rows) + ", " + std::to_string(vocab) + ")");
  }
  if (vocab > std::numeric_limits<int32_t>::max()) throw_shape_error("sample: vocab must fit in int32");
  if (rows > (int64_t{1} << 40) / vocab) throw_shape_error("sample: logits too large");
  if (tokens == nullptr || logprobs == nullptr || logits == nullptr || seeds == nullptr) {
    throw_argument_error("sample: null pointer argument");
  }
  check_sampling_options(options);
  if (previous_tokens != nullptr) {
    if (previous_counts == nullptr) throw_argument_error("sample: previous_counts is null");
    for (int64_t row = 0; row < rows; ++row) {
      if (previous_counts[row] < 0) throw_argument_error("sample: previousTokens[" + std::to_string(row) + "] has a negative count");
      if (previous_counts[row] > 0 && previous_tokens[row] == nullptr) {
        throw_argument_error("sample: previousTokens[" + std::to_string(row) + "] is null");
      }
      for (int64_t i = 0; i < previous_counts[row]; ++i) {
        const int32_t id = previous_tokens[row][i];
        if (id < 0 || id >= vocab) {
          throw_argument_error("sample: previousTokens[" + std::to_string(row) + "][" + std::to_string(i) + "] = " +
                               std::to_string(id) + " is outside [0, " + std::to_string(vocab) + ")");
        }
      }
    }
  }
  // Rows are taken one at a time from a shared counter; tiny batches stay on the calling thread.
  const int64_t minimum_rows = rows * vocab >= 65536 ? 2 : rows + 1;
  parallel_for_dynamic(rows, 1, minimum_rows, [&](int64_t begin, int64_t end) {
    static thread_local RowScratch scratch;
    for (int64_t row = begin; row < end; ++row) {
      const int32_t* history = previous_tokens != nullptr ? previous_tokens[row] : nullptr;
      const int64_t history_count = previous_tokens != nullptr ? previous_counts[row] : 0;
      sample_row(tokens + row, logprobs + row, logits + row * vocab, row, vocab, options, seeds[row], history,
                 history_count, scratch);
    }
  });
}

}  // namespace pillow
