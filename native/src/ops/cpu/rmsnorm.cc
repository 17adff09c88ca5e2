#include "ops/cpu/rmsnorm.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "runtime/errors.h"
#include "runtime/thread_pool.h"

namespace pillow {

namespace {

void check(const char* op, int64_t rows, int64_t hidden) {
  if (rows < 1 || hidden < 1) throw_shape_error(std::string(op) + ": rows and hidden must be >= 1");
}

int64_t row_grain(int64_t hidden) { return std::max<int64_t>(1, 8192 / hidden); }

}  // namespace

void rmsnorm_forward(float* out, float* rstd, const float* x, const float* weight, int64_t rows, int64_t hidden,
                     float eps) {
  check("rmsnorm_forward", rows, hidden);
  if (!(eps > 0.0f)) throw_argument_error("rmsnorm_forward: eps must be > 0");
  parallel_for(rows, row_grain(hidden), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* xr = x + r * hidden;
      float* o = out + r * hidden;
      // The squares summed in double and the scale rounded as llama.cpp's rms_norm rounds them: a
      // quantized model's next product rounds x to int8 codes, where one ulp of s decides the code
      // of every value that lies on a half-code (a unit-norm layer 0 over a Q4_0 embedding), so
      // the two programs agree only with the same s.
      double sum = 0.0;
      for (int64_t i = 0; i < hidden; ++i) sum += static_cast<double>(xr[i] * xr[i]);
      const float mean = static_cast<float>(sum / static_cast<double>(hidden));
      const float s = 1.0f / std::sqrt(mean + eps);
      if (rstd) rstd[r] = s;
      for (int64_t i = 0; i < hidden; ++i) o[i] = xr[i] * s * weight[i];
    }
  });
}

void rmsnorm_backward(float* dx, float* dweight, const float* dout, const float* x, const float* weight,
                      const float* rstd, int64_t rows, int64_t hidden) {
  check("rmsnorm_backward", rows, hidden);
  // y = x·s·w with s = (mean(x²)+eps)^(-1/2):  dx = s·(dout⊙w) − x·s³/H·Σ(dout⊙w⊙x).
  // dweight partial sums go to one buffer per chunk of rows, reduced at the end in a fixed order
  // (deterministic whatever the thread count).
  const int64_t chunk_count = dweight ? std::min<int64_t>(rows, 16) : 1;
  std::vector<float> partial(dweight ? static_cast<size_t>(chunk_count * hidden) : 0, 0.0f);
  parallel_for(chunk_count, 1, [&](int64_t chunk_begin, int64_t chunk_end) {
    for (int64_t chunk = chunk_begin; chunk < chunk_end; ++chunk) {
      const int64_t r_begin = rows * chunk / chunk_count, r_end = rows * (chunk + 1) / chunk_count;
      float* dw = dweight ? partial.data() + chunk * hidden : nullptr;
      for (int64_t r = r_begin; r < r_end; ++r) {
        const float* xr = x + r * hidden;
        const float* d = dout + r * hidden;
        float* dxr = dx + r * hidden;
        const float s = rstd[r];
        float dot = 0.0f;
        for (int64_t i = 0; i < hidden; ++i) dot += d[i] * weight[i] * xr[i];
        const float c = dot * s * s * s / static_cast<float>(hidden);
        for (int64_t i = 0; i < hidden; ++i) dxr[i] += s * d[i] * weight[i] - c * xr[i];
        if (dw) {
          for (int64_t i = 0; i < hidden; ++i) dw[i] += d[i] * xr[i] * s;
        }
      }
    }
  });
  if (dweight) {
    for (int64_t chunk = 0; chunk < chunk_count; ++chunk) {
      const float* p = partial.data() + chunk * hidden;
      for (int64_t i = 0; i < hidden; ++i) dweight[i] += p[i];
    }
  }
}

}  // namespace pillow
