#include "ops/cpu/swiglu.h"

#include "ops/common/activation_math.h"
#include "ops/cpu/vector_clones.h"
#include "runtime/errors.h"
#include "runtime/thread_pool.h"

// The loops are PILLOW_VECTOR_CLONES (this file is built with -fno-trapping-math as well, so
// fast_exp's clamp vectorises).
//
// And they are built without GCC's partial redundancy elimination (tree-pre): it splits
// sigmoid_value along fast_exp's clamp and folds the gate < −88 path to gate · 6e-39, a subnormal
// constant; the vectorised loop then multiplies every lane by it before blending the path away,
// and each subnormal operand costs a microcode assist. AVX2 forward over 64 × 352 values: 7.1 →
// 0.6 ns a value (Xeon model 167), 18 % of a 64-row decode step of the tiny model before. The
// bits are the same (checked over 4M float patterns; only the sign of NaN may differ).
#if defined(__GNUC__) && !defined(__clang__)
#define PILLOW_NO_PATH_SPLITTING __attribute__((optimize("no-tree-pre")))
#else
#define PILLOW_NO_PATH_SPLITTING
#endif

namespace pillow {

namespace {

PILLOW_VECTOR_CLONES PILLOW_NO_PATH_SPLITTING void swiglu_values(float* out, const float* gate, const float* up,
                                                                  int64_t count) {
  for (int64_t n = 0; n < count; ++n) out[n] = swiglu_value(gate[n], up[n]);
}

PILLOW_VECTOR_CLONES PILLOW_NO_PATH_SPLITTING void swiglu_gradients(float* dgate, float* dup, const float* dout,
                                                                     const float* gate, const float* up,
                                                                     int64_t count) {
  for (int64_t n = 0; n < count; ++n) swiglu_gradient(dout[n], gate[n], up[n], &dgate[n], &dup[n]);
}

}  // namespace

void swiglu_forward(float* out, const float* gate, const float* up, int64_t count) {
  if (count < 1) throw_shape_error("swiglu_forward: count must be >= 1");
  parallel_for(count, 16384, [&](int64_t begin, int64_t end) {
    swiglu_values(out + begin, gate + begin, up + begin, end - begin);
  });
}

void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int64_t count) {
  if (count < 1) throw_shape_error("swiglu_backward: count must be >= 1");
  parallel_for(count, 16384, [&](int64_t begin, int64_t end) {
    swiglu_gradients(dgate + begin, dup + begin, dout + begin, gate + begin, up + begin, end - begin);
  });
}

}  // namespace pillow
