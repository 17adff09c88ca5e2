// Token sampling from logits: penalties, temperature, top-k, top-p, min-p, per-row seeds.
#pragma once
#include <cstdint>

#include "ops/common/sampling_math.h"

namespace pillow {

// For each of `rows` rows of logits[rows, vocab]: tokens[row] is the drawn token id and
// logprobs[row] its log-probability under the final filtered, renormalised distribution
// (0 for greedy). previous_tokens[row] (previous_counts[row] ids in [0, vocab)) feed the
// penalties; previous_tokens may be nullptr (no history). seeds[row] names the row's random
// stream, so equal seeds give equal draws. Filters keep every token tied with the boundary one.
// Throws E_NONFINITE_LOGITS for NaN/Inf logits, E_ARGUMENT for bad options or token ids,
// E_SHAPE for bad dimensions; never returns an id outside [0, vocab).
void sample_forward(int32_t* tokens, float* logprobs, const float* logits, int64_t rows, int64_t vocab,
                    const SamplingOptions& options, const uint64_t* seeds, const int32_t* const* previous_tokens,
                    const int64_t* previous_counts);

// Throws E_ARGUMENT unless every option is in its range.
void check_sampling_options(const SamplingOptions& options);

}  // namespace pillow
