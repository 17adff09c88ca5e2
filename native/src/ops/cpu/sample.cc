#include "ops/cpu/sample.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "runtime/errors.h"
#include "runtime/thread_pool.h"

namespace pillow {

namespace {

struct RowScratch {
  std::vector<float> z;          // penalised, temperature-scaled logits minus their max (max is 0)
  std::vector<float> weight;     // exp(z): unnormalised probabilities, the largest is 1
  std::vector<int32_t> candidates;
  std::vector<int32_t> history;
};

std::string describe_nonfinite(float value) {
  if (std::isnan(value)) return "NaN";
  return value > 0 ? "+Infinity" : "-Infinity";
}

// The smallest z-threshold whose kept set {z >= τ} (within `candidates`) holds at least `need` of
// the mass: the top-p boundary, found by quickselect-style partitioning instead of a full sort.
// Expected O(n): each round keeps the side of a pivot where the boundary lies.
float top_p_threshold(int32_t* begin, int32_t* end, const float* z, const float* weight, double need,
                      uint64_t pivot_seed) {
  double above = 0;  // mass of tokens already known to be kept (strictly above the current range)
  uint64_t state = pivot_seed;
  while (true) {
    const int64_t n = end - begin;
    if (n == 1) return z[*begin];
    // Median of three pseudo-random entries: robust against sorted or adversarial inputs.
    float picks[3];
    for (float& pick : picks) {
      state = splitmix64(state);
      pick = z[begin[state % static_cast<uint64_t>(n)]];
    }
    std::sort(picks, picks + 3);
    const float pivot = picks[1];
    int32_t* high_end = std::partition(begin, end, [&](int32_t i) { return z[i] > pivot; });
    int32_t* equal_end = std::partition(high_end, end, [&](int32_t i) { return z[i] == pivot; });
    double high_mass = 0, equal_mass = 0;
    for (int32_t* p = begin; p < high_end; ++p) high_mass += weight[*p];
    for (int32_t* p = high_end; p < equal_end; ++p) equal_mass += weight[*p];
    if (above + high_mass >= need && high_end > begin) {
      end = high_end;
    } else if (above + high_mass + equal_mass >= need || equal_end == end) {
      return pivot;
    } else {
      above += high_mass + equal_mass;
      begin = equal_end;
    }
  }
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

  int32_t best = 0;
  for (int64_t i = 1; i < vocab; ++i) {
    if (z[i] > z[best]) best = static_cast<int32_t>(i);
  }
  if (options.temperature == 0.0f) {
    *token_out = best;
    *logprob_out = 0.0f;  // greedy: the filtered distribution is a point mass
    return;
  }
  const float max_value = z[best];
  const float inverse_temperature = 1.0f / options.temperature;
  std::vector<float>& weight = scratch.weight;
  weight.resize(static_cast<size_t>(vocab));
  for (int64_t i = 0; i < vocab; ++i) {
    const float scaled = (z[i] - max_value) * inverse_temperature;
    z[i] = scaled;
    weight[i] = std::exp(scaled);
  }

  // Every filter is a threshold on z (kept: z >= threshold), so they compose by taking the max.
  float threshold = -std::numeric_limits<float>::infinity();
  const bool top_k = options.top_k > 0 && options.top_k < vocab;
  const bool top_p = options.top_p < 1.0f;
  if (top_k || top_p) {
    std::vector<int32_t>& candidates = scratch.candidates;
    candidates.resize(static_cast<size_t>(vocab));
    for (int64_t i = 0; i < vocab; ++i) candidates[i] = static_cast<int32_t>(i);
    if (top_k) {
      std::nth_element(candidates.begin(), candidates.begin() + (options.top_k - 1), candidates.end(),
                       [&](int32_t left, int32_t right) { return z[left] > z[right]; });
      threshold = z[candidates[options.top_k - 1]];
      // nth_element leaves every larger value before position k-1; ties may sit after it.
      candidates.erase(std::remove_if(candidates.begin() + options.top_k, candidates.end(),
                                      [&](int32_t i) { return z[i] < threshold; }),
                       candidates.end());
    }
    if (top_p) {
      double mass = 0;
      for (int32_t i : candidates) mass += weight[i];
      const float p_threshold = top_p_threshold(candidates.data(), candidates.data() + candidates.size(), z.data(),
                                                weight.data(), static_cast<double>(options.top_p) * mass, seed ^ 0x5bd1e995u);
      threshold = std::max(threshold, p_threshold);
    }
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
  const int64_t grain = vocab >= 4096 ? 1 : std::max<int64_t>(1, 65536 / vocab);
  parallel_for(rows, grain, [&](int64_t begin, int64_t end) {
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
