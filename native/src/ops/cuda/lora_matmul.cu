// CUDA port of ops/cpu/lora_matmul.cc and the matmul gradients: the same products, expressed the
// same way — one strided GEMM whose K is a sum of segments, so LoRA rides along the base GEMM as
// y = [x | s·xAᵀ]·[W | B]ᵀ and the backward keeps its intermediates rank-r.
#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "ops/common/argument_checks.h"
#include "ops/common/bf16.h"
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/device_buffer.h"
#include "ops/cuda/kernel_launch.h"
#include "ops/cuda/lora_matmul_cuda.h"

namespace pillow {

namespace {

// Element (row, k) of an operand at data[row * row_stride + k * k_stride], f32 or bf16 bits.
struct DeviceOperand {
  const void* data;
  int type;  // 0 f32, 1 bf16
  int64_t row_stride;
  int64_t k_stride;
};

struct DeviceSegment {
  DeviceOperand a;  // (m, k)
  DeviceOperand b;  // (n, k)
  int64_t k_length;
};

struct DeviceProduct {
  DeviceSegment segments[2];
  int segment_count;
};

__device__ __forceinline__ float load_operand(const DeviceOperand& op, int64_t row, int64_t k) {
  const int64_t offset = row * op.row_stride + k * op.k_stride;
  if (op.type == 1) return bf16_to_f32(static_cast<const uint16_t*>(op.data)[offset]);
  return static_cast<const float*>(op.data)[offset];
}

constexpr int kTile = 64;     // C tile per block
constexpr int kTileK = 16;    // K step staged in shared memory
constexpr int kThreadTile = 4;  // 4 x 4 outputs per thread, 16 x 16 threads

// c[m * ldc + n] = (accumulate ? c : 0) + Σ_segments Σ_k A(m, k)·B(n, k)
__global__ void gemm_segments_kernel(float* c, int64_t ldc, int64_t rows, int64_t columns, DeviceProduct product,
                                     bool accumulate) {
  __shared__ float a_tile[kTileK][kTile + 1];
  __shared__ float b_tile[kTileK][kTile + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;  // 16 x 16
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kTile;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kTile;
  float acc[kThreadTile][kThreadTile] = {};
  const int linear = ty * 16 + tx;
  for (int s = 0; s < product.segment_count; ++s) {
    const DeviceSegment segment = product.segments[s];
    for (int64_t k0 = 0; k0 < segment.k_length; k0 += kTileK) {
      // 256 threads stage 16 x 64 values of each operand: 4 each.
      for (int i = linear; i < kTileK * kTile; i += 256) {
        const int kk = i / kTile, rr = i % kTile;
        const int64_t k = k0 + kk;
        const int64_t m = m0 + rr, n = n0 + rr;
        a_tile[kk][rr] = (k < segment.k_length && m < rows) ? load_operand(segment.a, m, k) : 0.0f;
        b_tile[kk][rr] = (k < segment.k_length && n < columns) ? load_operand(segment.b, n, k) : 0.0f;
      }
      __syncthreads();
#pragma unroll
      for (int kk = 0; kk < kTileK; ++kk) {
        float av[kThreadTile], bv[kThreadTile];
#pragma unroll
        for (int i = 0; i < kThreadTile; ++i) {
          av[i] = a_tile[kk][ty * kThreadTile + i];
          bv[i] = b_tile[kk][tx * kThreadTile + i];
        }
#pragma unroll
        for (int i = 0; i < kThreadTile; ++i)
#pragma unroll
          for (int j = 0; j < kThreadTile; ++j) acc[i][j] += av[i] * bv[j];
      }
      __syncthreads();
    }
  }
#pragma unroll
  for (int i = 0; i < kThreadTile; ++i) {
    const int64_t m = m0 + ty * kThreadTile + i;
    if (m >= rows) continue;
#pragma unroll
    for (int j = 0; j < kThreadTile; ++j) {
      const int64_t n = n0 + tx * kThreadTile + j;
      if (n >= columns) continue;
      float* dst = c + m * ldc + n;
      *dst = accumulate ? *dst + acc[i][j] : acc[i][j];
    }
  }
}

void gemm_segments(float* c, int64_t ldc, int64_t rows, int64_t columns, const DeviceSegment* segments,
                   int segment_count, bool accumulate) {
  if (rows <= 0 || columns <= 0) return;
  DeviceProduct product{};
  for (int s = 0; s < segment_count; ++s) product.segments[s] = segments[s];
  product.segment_count = segment_count;
  const dim3 block(16, 16);
  const dim3 grid(static_cast<unsigned>((columns + kTile - 1) / kTile), static_cast<unsigned>((rows + kTile - 1) / kTile));
  launch_kernel("gemm_segments_kernel", gemm_segments_kernel, grid, block, 0, c, ldc, rows, columns, product, accumulate);
}

DeviceOperand f32(const float* data, int64_t row_stride, int64_t k_stride) {
  return DeviceOperand{data, 0, row_stride, k_stride};
}

DeviceOperand weight(WeightView w, int64_t row_stride, int64_t k_stride) {
  return DeviceOperand{w.data, w.type == WeightType::BF16 ? 1 : 0, row_stride, k_stride};
}

__global__ void scale_kernel(float* values, int64_t count, float scale) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) values[i] *= scale;
}

void scale_in_place(float* values, int64_t count, float scale) {
  if (count <= 0 || scale == 1.0f) return;
  launch_kernel("scale_kernel", scale_kernel, static_cast<unsigned>((count + 255) / 256), 256, 0, values, count, scale);
}


// u[T, r] = scale · x · Aᵀ
void lora_down(float* u, const float* x, const float* a, int64_t tokens, int64_t in_features, int64_t rank, float scale) {
  const DeviceSegment segment{f32(x, in_features, 1), f32(a, in_features, 1), in_features};
  gemm_segments(u, rank, tokens, rank, &segment, 1, false);
  scale_in_place(u, tokens * rank, scale);
}

}  // namespace

void lora_matmul_forward_cuda(float* y, const float* x, WeightView w, const float* a, const float* b, int64_t tokens,
                              int64_t in_features, int64_t out_features, int64_t rank, float scale) {
  const char* op = "lora_matmul_forward (cuda)";
  check_matmul_shape(op, tokens, in_features, out_features);
  check_weight_on_cuda(op, w);
  check_lora_rank(op, rank, in_features, out_features);
  check_lora_scale(op, scale);
  if (y == nullptr || x == nullptr) throw_argument_error(std::string(op) + ": y and x must not be null");
  const bool with_lora = a != nullptr && rank > 0;
  if (with_lora && b == nullptr) throw_argument_error(std::string(op) + ": b is null while a is given");
  DeviceSegment segments[2];
  segments[0] = DeviceSegment{f32(x, in_features, 1), weight(w, in_features, 1), in_features};
  if (!with_lora) {
    gemm_segments(y, out_features, tokens, out_features, segments, 1, false);
    return;
  }
  DeviceBuffer<float> u(tokens * rank);
  lora_down(u.data(), x, a, tokens, in_features, rank, scale);
  segments[1] = DeviceSegment{f32(u.data(), rank, 1), f32(b, rank, 1), rank};
  gemm_segments(y, out_features, tokens, out_features, segments, 2, false);
  check_cuda(cudaDeviceSynchronize(), "lora_matmul_forward_cuda");
}

void lora_matmul_forward_shared_input_cuda(const LoraMatmulOutput* outputs, int64_t output_count, const float* x,
                                           int64_t tokens, int64_t in_features) {
  const char* op = "lora_matmul_forward_shared_input (cuda)";
  if (outputs == nullptr || output_count < 1) throw_argument_error(std::string(op) + ": at least one output is needed");
  for (int64_t i = 0; i < output_count; ++i) {  // every output checked before any kernel runs
    const LoraMatmulOutput& o = outputs[i];
    check_matmul_shape(op, tokens, in_features, o.out_features);
    check_weight_on_cuda(op, o.w);
    check_lora_rank(op, o.rank, in_features, o.out_features);
    check_lora_scale(op, o.scale);
    if (o.y == nullptr || x == nullptr) throw_argument_error(std::string(op) + ": y and x must not be null");
    if (o.a != nullptr && o.rank > 0 && o.b == nullptr) throw_argument_error(std::string(op) + ": b is null while a is given");
  }
  for (int64_t i = 0; i < output_count; ++i) {
    const LoraMatmulOutput& o = outputs[i];
    lora_matmul_forward_cuda(o.y, x, o.w, o.a, o.b, tokens, in_features, o.out_features, o.rank, o.scale);
  }
}

void lora_matmul_backward_cuda(float* dx, float* da, float* db, const float* dy, const float* x, WeightView w,
                               const float* a, const float* b, int64_t tokens, int64_t in_features,
                               int64_t out_features, int64_t rank, float scale) {
  const char* op = "lora_matmul_backward (cuda)";
  check_matmul_shape(op, tokens, in_features, out_features);
  check_lora_rank(op, rank, in_features, out_features);
  check_lora_scale(op, scale);
  if (dy == nullptr) throw_argument_error(std::string(op) + ": dy must not be null");
  if (dx != nullptr) check_weight_on_cuda(op, w);
  const bool with_lora = a != nullptr && rank > 0;
  if (with_lora && b == nullptr) throw_argument_error(std::string(op) + ": b is null while a is given");
  if (with_lora && (da != nullptr || db != nullptr) && x == nullptr) {
    throw_argument_error(std::string(op) + ": x is needed for da/db");
  }
  if (!with_lora) {
    if (dx != nullptr) matmul_backward_input_cuda(dx, dy, w, tokens, in_features, out_features);
    return;
  }
  DeviceBuffer<float> g(tokens * rank);  // scale · dy · B
  {
    const DeviceSegment segment{f32(dy, out_features, 1), f32(b, 1, rank), out_features};
    gemm_segments(g.data(), rank, tokens, rank, &segment, 1, false);
    scale_in_place(g.data(), tokens * rank, scale);
  }
  if (dx != nullptr) {
    const DeviceSegment segments[2] = {
        DeviceSegment{f32(dy, out_features, 1), weight(w, 1, in_features), out_features},
        DeviceSegment{f32(g.data(), rank, 1), f32(a, 1, in_features), rank}};
    gemm_segments(dx, in_features, tokens, in_features, segments, 2, false);
  }
  if (da != nullptr) {
    const DeviceSegment segment{f32(g.data(), 1, rank), f32(x, 1, in_features), tokens};
    gemm_segments(da, in_features, rank, in_features, &segment, 1, false);
  }
  if (db != nullptr) {
    DeviceBuffer<float> u(tokens * rank);
    lora_down(u.data(), x, a, tokens, in_features, rank, scale);
    const DeviceSegment segment{f32(dy, 1, out_features), f32(u.data(), 1, rank), tokens};
    gemm_segments(db, rank, out_features, rank, &segment, 1, false);
    check_cuda(cudaDeviceSynchronize(), "lora_matmul_backward_cuda");
  }
  check_cuda(cudaDeviceSynchronize(), "lora_matmul_backward_cuda");
}

namespace {

// y[t] += scale · u[row_of[t]] · Bᵀ for the rows of one adapter (gathered by index on the device).
__global__ void gather_rows_kernel(float* out, const float* in, const int32_t* rows, int64_t count, int64_t width) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count * width) out[i] = in[static_cast<int64_t>(rows[i / width]) * width + i % width];
}

__global__ void scatter_add_rows_kernel(float* out, const float* in, const int32_t* rows, int64_t count, int64_t width) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count * width) out[static_cast<int64_t>(rows[i / width]) * width + i % width] += in[i];
}

}  // namespace

void lora_matmul_multi_forward_cuda(float* y, const float* x, WeightView w, const float* const* a,
                                    const float* const* b, const int64_t* ranks, const float* scales,
                                    int64_t adapter_count, const int32_t* adapter_index, int64_t tokens,
                                    int64_t in_features, int64_t out_features) {
  const char* op = "lora_matmul_multi_forward (cuda)";
  check_matmul_shape(op, tokens, in_features, out_features);
  check_weight_on_cuda(op, w);
  if (y == nullptr || x == nullptr || adapter_index == nullptr) {
    throw_argument_error(std::string(op) + ": y, x and adapter_index must not be null");
  }
  for (int64_t j = 0; j < adapter_count; ++j) {
    if (ranks[j] < 1) throw_shape_error(std::string(op) + ": adapters[" + std::to_string(j) + "].rank must be >= 1");
    check_lora_rank(op, ranks[j], in_features, out_features);
    check_lora_scale(op, scales[j]);
    if (a[j] == nullptr || b[j] == nullptr) throw_argument_error(std::string(op) + ": adapter a/b is null");
  }
  // The index lives on the device; the grouping is planned on the host from a copy.
  std::vector<int32_t> index(static_cast<size_t>(tokens));
  check_cuda(cudaMemcpy(index.data(), adapter_index, index.size() * sizeof(int32_t), cudaMemcpyDeviceToHost),
             "copy adapterIndex");
  for (int64_t t = 0; t < tokens; ++t) {
    if (index[t] < -1 || index[t] >= adapter_count) {
      throw_argument_error(std::string(op) + ": adapterIndex[" + std::to_string(t) + "] = " + std::to_string(index[t]) +
                           " is not -1 or an adapter index");
    }
  }
  // Base product for every row, then each adapter's rank-r term on its gathered rows.
  const DeviceSegment base{f32(x, in_features, 1), weight(w, in_features, 1), in_features};
  gemm_segments(y, out_features, tokens, out_features, &base, 1, false);
  for (int64_t j = 0; j < adapter_count; ++j) {
    std::vector<int32_t> rows;
    for (int64_t t = 0; t < tokens; ++t)
      if (index[t] == j) rows.push_back(static_cast<int32_t>(t));
    if (rows.empty()) continue;
    const int64_t count = static_cast<int64_t>(rows.size());
    const DeviceBuffer<int32_t> device_rows(rows.data(), count);
    DeviceBuffer<float> xg(count * in_features), u(count * ranks[j]), delta(count * out_features);
    launch_kernel("gather_rows_kernel", gather_rows_kernel, static_cast<unsigned>((count * in_features + 255) / 256), 256,
                  0, xg.data(), x, device_rows.data(), count, in_features);
    lora_down(u.data(), xg.data(), a[j], count, in_features, ranks[j], scales[j]);
    const DeviceSegment up{f32(u.data(), ranks[j], 1), f32(b[j], ranks[j], 1), ranks[j]};
    gemm_segments(delta.data(), out_features, count, out_features, &up, 1, false);
    launch_kernel("scatter_add_rows_kernel", scatter_add_rows_kernel,
                  static_cast<unsigned>((count * out_features + 255) / 256), 256, 0, y, delta.data(), device_rows.data(),
                  count, out_features);
    check_cuda(cudaDeviceSynchronize(), "lora_matmul_multi_forward_cuda");
  }
  check_cuda(cudaDeviceSynchronize(), "lora_matmul_multi_forward_cuda");
}

void matmul_backward_weight_cuda(float* dw, const float* dy, const float* x, int64_t tokens, int64_t in_features,
                                 int64_t out_features) {
  check_matmul_shape("matmul_backward_weight (cuda)", tokens, in_features, out_features);
  if (dw == nullptr || dy == nullptr || x == nullptr) throw_argument_error("matmul_backward_weight (cuda): null pointer");
  const DeviceSegment segment{f32(dy, 1, out_features), f32(x, 1, in_features), tokens};
  gemm_segments(dw, in_features, out_features, in_features, &segment, 1, false);
  check_cuda(cudaDeviceSynchronize(), "matmul_backward_weight_cuda");
}

void matmul_backward_input_cuda(float* dx, const float* dy, WeightView w, int64_t tokens, int64_t in_features,
                                int64_t out_features) {
  check_matmul_shape("matmul_backward_input (cuda)", tokens, in_features, out_features);
  check_weight_on_cuda("matmul_backward_input (cuda)", w);
  if (dx == nullptr || dy == nullptr) throw_argument_error("matmul_backward_input (cuda): null pointer");
  const DeviceSegment segment{f32(dy, out_features, 1), weight(w, 1, in_features), out_features};
  gemm_segments(dx, in_features, tokens, in_features, &segment, 1, false);
  check_cuda(cudaDeviceSynchronize(), "matmul_backward_input_cuda");
}

}  // namespace pillow
