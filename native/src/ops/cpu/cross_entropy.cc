#include "ops/cpu/cross_entropy.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "ops/common/fast_exp.h"
#include "ops/cpu/vector_clones.h"
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

// The loops over a row are PILLOW_VECTOR_CLONES; fast_exp (ops/common, shared with the CUDA twin)
// vectorises where std::exp does not: over a 32000-word vocabulary the exp passes were ~6 % of a
// 134M LoRA step.
//
// max and log Σ exp(x − max) of one row, in f32 as PyTorch does on CPU; the sum is taken in f32
// within blocks of 256 words (eight lanes) and over the blocks in double.
PILLOW_VECTOR_CLONES void row_statistics(const float* __restrict__ x, int64_t vocab, float* max_out,
                                         float* log_sum_out) {
  // The max over 16 lanes, then over the lanes: one running max is a chain GCC does not vectorise
  // (maxss after maxss, 32 000 of them per row); the max of a set does not depend on the order.
  float m = x[0];
  int64_t head = 0;
  if (vocab >= 16) {
    float lanes[16];
    for (int l = 0; l < 16; ++l) lanes[l] = x[l];
    for (head = 16; head + 16 <= vocab; head += 16) {
      for (int l = 0; l < 16; ++l) lanes[l] = std::max(lanes[l], x[head + l]);
    }
    for (int l = 0; l < 16; ++l) m = std::max(m, lanes[l]);
  }
  for (int64_t i = head; i < vocab; ++i) m = std::max(m, x[i]);
  double sum = 0.0;
  int64_t i = 0;
  for (; i + 256 <= vocab; i += 256) {
    float lanes[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};  // eight partial sums: one vector
    for (int64_t j = 0; j < 256; j += 8) {
      for (int l = 0; l < 8; ++l) lanes[l] += fast_exp(x[i + j + l] - m);
    }
    sum += ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
  }
  for (; i < vocab; ++i) sum += fast_exp(x[i] - m);
  *max_out = m;
  *log_sum_out = static_cast<float>(std::log(sum));
}

// d[i] = exp(x[i] − shift)·scale (d may be x itself).
PILLOW_VECTOR_CLONES void scaled_probabilities(float* d, const float* x, int64_t vocab, float shift, float scale) {
  for (int64_t i = 0; i < vocab; ++i) d[i] = fast_exp(x[i] - shift) * scale;
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

int64_t cross_entropy_forward_backward(float* losses, float* dlogits, const float* logits, const int32_t* targets,
                                       float loss_scale, int64_t rows, int64_t vocab) {
  const int64_t counted = check("cross_entropy_forward_backward", targets, rows, vocab);
  parallel_for(rows, std::max<int64_t>(1, 16384 / vocab), [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      float* d = dlogits + n * vocab;
      if (targets[n] == kIgnoreIndex) {
        losses[n] = 0.0f;
        std::memset(d, 0, sizeof(float) * vocab);
        continue;
      }
      const float* x = logits + n * vocab;
      float m, log_sum;
      row_statistics(x, vocab, &m, &log_sum);
      losses[n] = (m + log_sum) - x[targets[n]];  // read before d (which may be x) is written
      scaled_probabilities(d, x, vocab, m + log_sum, loss_scale);
      d[targets[n]] -= loss_scale;
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
      scaled_probabilities(d, x, vocab, shift, loss_scale);
      d[targets[n]] -= loss_scale;
    }
  });
}

}  // namespace pillow
