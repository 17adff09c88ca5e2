// CUDA twin of ops/cpu/rope.cc: one thread per (row, head); the rotation is ops/common/rope_math.h.
#include <string>

#include "ops/common/rope_math.h"
#include "ops/cuda/cuda_launch.h"
#include "ops/cuda/kernel_launch.h"
#include "ops/cuda/model_ops_cuda.h"
#include "runtime/errors.h"

namespace pillow {

namespace {

void check(const char* op, const int32_t* positions, int64_t rows, int64_t heads, int64_t head_dim,
           int64_t table_positions) {
  if (rows < 1 || heads < 1 || head_dim < 2 || head_dim % 2 != 0) {
    throw_shape_error(std::string(op) + ": rows, heads >= 1 and an even head_dim >= 2 are required");
  }
  const std::vector<int32_t> host = copy_to_host(positions, rows, op);
  for (int64_t r = 0; r < rows; ++r) {
    if (host[r] < 0 || host[r] >= table_positions) {
      throw_argument_error(std::string(op) + ": position " + std::to_string(host[r]) + " is outside [0, " +
                           std::to_string(table_positions) + ")");
    }
  }
}

template <bool kBackward>
__global__ void rope_kernel(float* out, const float* x, const int32_t* positions, const float* cos_table,
                            const float* sin_table, int64_t rows, int64_t heads, int64_t head_dim) {
  const int64_t unit = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (unit >= rows * heads) return;
  const int64_t r = unit / heads;
  const int half = static_cast<int>(head_dim / 2);
  const float* c = cos_table + static_cast<int64_t>(positions[r]) * half;
  const float* s = sin_table + static_cast<int64_t>(positions[r]) * half;
  // Each pair (i, i + half) is read before it is written, so out may alias x.
  if (kBackward) {
    rope_rotate_backward(out + unit * head_dim, x + unit * head_dim, c, s, half);
  } else {
    rope_rotate(out + unit * head_dim, x + unit * head_dim, c, s, half);
  }
}

}  // namespace

void rope_forward_cuda(float* out, const float* x, const int32_t* positions, const float* cos_table,
                       const float* sin_table, int64_t rows, int64_t heads, int64_t head_dim, int64_t table_positions) {
  check("rope_forward (cuda)", positions, rows, heads, head_dim, table_positions);
  launch_kernel("rope_kernel<false>", rope_kernel<false>, grid_for(rows * heads), kThreads, 0, out, x, positions, cos_table, sin_table, rows, heads, head_dim);
}

void rope_backward_cuda(float* dx, const float* dout, const int32_t* positions, const float* cos_table,
                        const float* sin_table, int64_t rows, int64_t heads, int64_t head_dim, int64_t table_positions) {
  check("rope_backward (cuda)", positions, rows, heads, head_dim, table_positions);
  launch_kernel("rope_kernel<true>", rope_kernel<true>, grid_for(rows * heads), kThreads, 0, dx, dout, positions, cos_table, sin_table, rows, heads, head_dim);
}

}  // namespace pillow
