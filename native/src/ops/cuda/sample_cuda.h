// CUDA twin of ops/cpu/sample.h: the same arguments with logits, tokens, logprobs and seeds on the
// device; previous_tokens is a host array of device pointers (previous_counts on the host), as the
// CPU op takes a host array of host pointers. Compiled in CI; no GPU was available to run it.
#pragma once
#include <cstdint>

#include "ops/common/sampling_math.h"

namespace pillow {

void sample_forward_cuda(int32_t* tokens, float* logprobs, const float* logits, int64_t rows, int64_t vocab,
                         const SamplingOptions& options, const uint64_t* seeds, const int32_t* const* previous_tokens,
                         const int64_t* previous_counts);

}  // namespace pillow
