// Token embedding lookup: out[N, H] = table[tokens[n], :].
#pragma once
#include <cstdint>

#include "ops/common/weight_view.h"

namespace pillow {

// out[N, H]; tokens[N] each in [0, vocab); table[vocab, H].
void embedding_forward(float* out, const int32_t* tokens, const float* table, int64_t count, int64_t vocab,
                       int64_t hidden);

// out[N, H]; tokens[N] each in [0, vocab); table[vocab, H] as Q8_0, Q4_0 or Q4_K blocks (H a
// multiple of the type's block values): each looked-up row decoded to f32 as llama.cpp's get_rows
// decodes it. A tied model keeps its embedding this way so that its output layer multiplies the
// blocks themselves (as llama.cpp does) instead of an f32 copy four to seven times their size.
void embedding_forward_blocks(float* out, const int32_t* tokens, const uint8_t* table, WeightType type, int64_t count,
                              int64_t vocab, int64_t hidden);

// dtable[vocab, H] += scatter of dout[N, H] by token id (accumulates: repeated tokens add up).
void embedding_backward(float* dtable, const float* dout, const int32_t* tokens, int64_t count, int64_t vocab,
                        int64_t hidden);

}  // namespace pillow
