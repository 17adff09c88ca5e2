#include "ops/cpu/embedding.h"

#include <cstring>
#include <string>

#include "ops/cpu/quantized_matvec.h"
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

void embedding_forward_blocks(float* out, const int32_t* tokens, const uint8_t* table, WeightType type, int64_t count,
                              int64_t vocab, int64_t hidden) {
  check_tokens("embedding_forward_blocks", tokens, count, vocab, hidden);
  if (!is_block_quantized(type)) {
    throw_argument_error(std::string("embedding_forward_blocks: the table is ") + weight_type_name(type) +
                         ", not a block type (q8_0, q4_0, q4_k)");
  }
  if (hidden % block_values(type) != 0) {
    throw_shape_error("embedding_forward_blocks: hidden " + std::to_string(hidden) + " is not a multiple of " +
                      std::to_string(block_values(type)) + " (" + weight_type_name(type) + " rows are whole blocks)");
  }
  if (table == nullptr) throw_argument_error("embedding_forward_blocks: the table is null");
  for (int64_t n = 0; n < count; ++n) {
    block_dequantize_range(type, out + n * hidden, table, static_cast<int64_t>(tokens[n]) * hidden, hidden);
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
