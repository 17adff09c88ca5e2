#include "ops/cpu/residual.h"

#include "runtime/errors.h"
#include "runtime/thread_pool.h"

namespace pillow {

void residual_forward(float* out, const float* a, const float* b, int64_t count) {
  if (count < 1) throw_shape_error("residual_forward: count must be >= 1");
  parallel_for(count, 32768, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) out[n] = a[n] + b[n];
  });
}

void residual_backward(float* da, float* db, const float* dout, int64_t count) {
  if (count < 1) throw_shape_error("residual_backward: count must be >= 1");
  parallel_for(count, 32768, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      if (da) da[n] += dout[n];
      if (db) db[n] += dout[n];
    }
  });
}

}  // namespace pillow
