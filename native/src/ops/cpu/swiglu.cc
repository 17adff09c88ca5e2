#include "ops/cpu/swiglu.h"

#include "ops/common/activation_math.h"
#include "runtime/errors.h"
#include "runtime/thread_pool.h"

namespace pillow {

void swiglu_forward(float* out, const float* gate, const float* up, int64_t count) {
  if (count < 1) throw_shape_error("swiglu_forward: count must be >= 1");
  parallel_for(count, 16384, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) out[n] = swiglu_value(gate[n], up[n]);
  });
}

void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int64_t count) {
  if (count < 1) throw_shape_error("swiglu_backward: count must be >= 1");
  parallel_for(count, 16384, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) swiglu_gradient(dout[n], gate[n], up[n], &dgate[n], &dup[n]);
  });
}

}  // namespace pillow
