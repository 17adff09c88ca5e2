// The f32 matmul micro-kernel, y = x·wᵀ with both operands contiguous along k (PEFT/HF layout).
// Included by each isa/*.cc with PILLOW_ISA_NAMESPACE set; the compiler vectorises it per ISA.
#pragma once
#include <cstdint>

#include "ops/cpu/kernels/vector.h"

namespace PILLOW_ISA_NAMESPACE {

// Dot products of `rows` x-rows (<= 4) with `cols` w-rows (<= 2), written to out[t*ld + o].
// Fixed-size register tiles: 4 x 2 accumulators of 8 lanes each.
template <int ROWS, int COLS>
inline void matmul_tile(float* out, int64_t ld_out, const float* const* x_rows, const float* const* w_rows, int64_t k_len) {
  float8 acc[ROWS][COLS];
  for (int r = 0; r < ROWS; ++r)
    for (int c = 0; c < COLS; ++c) acc[r][c] = broadcast8(0.0f);
  int64_t k = 0;
  for (; k + 8 <= k_len; k += 8) {
    float8 wv[COLS];
    for (int c = 0; c < COLS; ++c) wv[c] = load8(w_rows[c] + k);
    for (int r = 0; r < ROWS; ++r) {
      const float8 xv = load8(x_rows[r] + k);
      for (int c = 0; c < COLS; ++c) acc[r][c] += xv * wv[c];
    }
  }
  for (int r = 0; r < ROWS; ++r) {
    for (int c = 0; c < COLS; ++c) {
      float total = sum8(acc[r][c]);
      for (int64_t kk = k; kk < k_len; ++kk) total += x_rows[r][kk] * w_rows[c][kk];
      out[r * ld_out + c] = total;
    }
  }
}

inline void matmul_block(float* out, const float* x, const float* w, int64_t in_features, int64_t out_features,
                         int64_t t_begin, int64_t t_end, int64_t o_begin, int64_t o_end) {
  for (int64_t t = t_begin; t < t_end; t += 4) {
    const int64_t rows = (t_end - t) < 4 ? (t_end - t) : 4;
    const float* x_rows[4];
    for (int64_t r = 0; r < 4; ++r) x_rows[r] = x + (t + (r < rows ? r : 0)) * in_features;
    for (int64_t o = o_begin; o < o_end; o += 2) {
      const int64_t cols = (o_end - o) < 2 ? (o_end - o) : 2;
      const float* w_rows[2] = {w + o * in_features, w + (o + (cols > 1 ? 1 : 0)) * in_features};
      float* dst = out + t * out_features + o;
      if (rows == 4 && cols == 2) {
        matmul_tile<4, 2>(dst, out_features, x_rows, w_rows, in_features);
      } else {
        // Edge tiles: one row/column at a time keeps the code small; they are a sliver of the work.
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t c = 0; c < cols; ++c)
            matmul_tile<1, 1>(dst + r * out_features + c, out_features, &x_rows[r], &w_rows[c], in_features);
      }
    }
  }
}

}  // namespace PILLOW_ISA_NAMESPACE
