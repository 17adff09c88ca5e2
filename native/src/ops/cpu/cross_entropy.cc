#include "ops/cpu/cross_entropy.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "runtime/errors.h"
#include "runtime/thread_pool.h"

namespace pillow {

namespace {

int64_t check(const char* op, const int32_t* targets, int64_t rows, int64_t vocab) {
  if (rows < 1 || vocab < 1) throw_shape_error(std::string(op) + ": rows and vocab must be >= 1");
  int64_t counted = 0;
  for (int64_t n = 0; n < rows; ++n) {
    if (targets[n] == kIgnoreIndex) continue;
    if (targets[n] < 0 || targets[n] >= vocab) {
      throw_argument_error(std::string(op) + ": label " + std::to_string(targets[n]) + " at row " + std::to_string(n) +
                           " is outside the vocabulary [0, " + std::to_string(vocab) + ") and is not -100");
    }
    ++counted;
  }
  return counted;
}

// max and log Σ exp(x − max) of one row, in f32 as PyTorch does on CPU.
inline void row_statistics(const float* x, int64_t vocab, float* max_out, float* log_sum_out) {
  float m = x[0];
  for (int64_t i = 1; i < vocab; ++i) m = std::max(m, x[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < vocab; ++i) sum += std::exp(x[i] - m);
  *max_out = m;
  *log_sum_out = static_cast<float>(std::log(sum));
}

}  // namespace

int64_t cross_entropy_forward(float* losses, const float* logits, const int32_t* targets, int64_t rows,
                              int64_t vocab) {
  const int64_t counted = check("cross_entropy_forward", targets, rows, vocab);
  parallel_for(rows, std::max<int64_t>(1, 16384 / vocab), [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      if (targets[n] == kIgnoreIndex) {
        losses[n] = 0.0f;
        continue;
      }
      const float* x = logits + n * vocab;
      float m, log_sum;
      row_statistics(x, vocab, &m, &log_sum);
      losses[n] = (m + log_sum) - x[targets[n]];
    }
  });
  return counted;
}

void cross_entropy_backward(float* dlogits, const float* logits, const int32_t* targets, float loss_scale,
                            int64_t rows, int64_t vocab) {
  check("cross_entropy_backward", targets, rows, vocab);
  parallel_for(rows, std::max<int64_t>(1, 16384 / vocab), [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      float* d = dlogits + n * vocab;
      if (targets[n] == kIgnoreIndex) {
        std::memset(d, 0, sizeof(float) * vocab);
        continue;
      }
      const float* x = logits + n * vocab;
      float m, log_sum;
      row_statistics(x, vocab, &m, &log_sum);
      const float shift = m + log_sum;
      for (int64_t i = 0; i < vocab; ++i) d[i] = std::exp(x[i] - shift) * loss_scale;
      d[targets[n]] -= loss_scale;
    }
  });
}

}  // namespace pillow
