#include "ops/cpu/embedding.h"

#include <cstring>
#include <string>

#include "runtime/errors.h"
#include "runtime/thread_pool.h"

namespace pillow {

namespace {

void check_tokens(const char* op, const int32_t* tokens, int64_t count, int64_t vocab, int64_t hidden) {
  if (count < 1 || vocab < 1 || hidden < 1) {
    throw_shape_error(std::string(op) + ": count, vocab and hidden must be >= 1");
  }
  for (int64_t n = 0; n < count; ++n) {
    if (tokens[n] < 0 || tokens[n] >= vocab) {
      throw_argument_error(std::string(op) + ": token id " + std::to_string(tokens[n]) + " at position " +
                           std::to_string(n) + " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
    }
  }
}

}  // namespace

void embedding_forward(float* out, const int32_t* tokens, const float* table, int64_t count, int64_t vocab,
                       int64_t hidden) {
  check_tokens("embedding_forward", tokens, count, vocab, hidden);
  for (int64_t n = 0; n < count; ++n) {
    std::memcpy(out + n * hidden, table + static_cast<int64_t>(tokens[n]) * hidden, sizeof(float) * hidden);
  }
}

void embedding_backward(float* dtable, const float* dout, const int32_t* tokens, int64_t count, int64_t vocab,
                        int64_t hidden) {
  check_tokens("embedding_backward", tokens, count, vocab, hidden);
  // Split the hidden columns across threads: rows with the same token never race that way.
  parallel_for(hidden, 64, [&](int64_t begin, int64_t end) {
    for (int64_t n = 0; n < count; ++n) {
      float* row = dtable + static_cast<int64_t>(tokens[n]) * hidden;
      const float* d = dout + n * hidden;
      for (int64_t i = begin; i < end; ++i) row[i] += d[i];
    }
  });
}

}  // namespace pillow
