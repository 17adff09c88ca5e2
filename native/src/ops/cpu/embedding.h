// Token embedding lookup: out[N, H] = table[tokens[n], :].
#pragma once
#include <cstdint>

namespace pillow {

// out[N, H]; tokens[N] each in [0, vocab); table[vocab, H].
void embedding_forward(float* out, const int32_t* tokens, const float* table, int64_t count, int64_t vocab,
                       int64_t hidden);

// dtable[vocab, H] += scatter of dout[N, H] by token id (accumulates: repeated tokens add up).
void embedding_backward(float* dtable, const float* dout, const int32_t* tokens, int64_t count, int64_t vocab,
                        int64_t hidden);

}  // namespace pillow
