#include "ops/cpu/bias.h"

#include <algorithm>

#include "runtime/thread_pool.h"

namespace pillow {

void bias_forward(float* y, const float* bias, int64_t rows, int64_t width) {
  parallel_for(rows, std::max<int64_t>(1, 8192 / width), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      for (int64_t i = 0; i < width; ++i) y[r * width + i] += bias[i];
    }
  });
}

void bias_backward(float* dbias, const float* dy, int64_t rows, int64_t width) {
  // Rows in order per column, so the sum does not depend on the thread count.
  parallel_for(width, 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t i = begin; i < end; ++i) dbias[i] += dy[r * width + i];
    }
  });
}

}  // namespace pillow
