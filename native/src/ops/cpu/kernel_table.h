// The table of per-ISA kernels. Each ISA translation unit (isa/*.cc) compiles the same kernel
// sources with its own -m flags and fills one table; dispatch.cc picks the table by cpuid once.
#pragma once
#include <cstdint>

#include "runtime/cpu_features.h"

namespace pillow {

struct KernelTable {
  CpuIsa isa;
  // out[t, o] = sum_k x[t, k] * w[o, k] for t in [t_begin, t_end), o in [o_begin, o_end).
  // x: [tokens, in_features], w: [out_features, in_features], out: [tokens, out_features], row-major.
  void (*matmul_block)(float* out, const float* x, const float* w, int64_t in_features, int64_t out_features,
                       int64_t t_begin, int64_t t_end, int64_t o_begin, int64_t o_end);
  // GEMM micro-kernel (kernels/gemm_kernel.h): a gemm_rows x gemm_columns tile of C from packed panels.
  int gemm_rows;
  int gemm_columns;
  void (*gemm_micro)(float* c, int64_t ldc, const float* a_packed, const float* b_packed, int64_t k, int rows,
                     int cols, bool accumulate);
  // Packs gemm_columns full rows of a k-contiguous operand (type 0 = f32, 1 = bf16 bits) for the
  // micro-kernel; returns false when the ISA has no fast path.
  bool (*gemm_pack_b)(float* dst, const void* src, int type, int64_t row_stride, int64_t kc);
  // Packs `panels` full B panels of an operand with adjacent columns and k steps k_stride apart
  // (W in dy·W): dst[j * panel_stride + p * gemm_columns + r] = src[p * k_stride + j * gemm_columns + r].
  bool (*gemm_pack_b_columns)(float* dst, int64_t panel_stride, const void* src, int type, int64_t k_stride,
                              int64_t kc, int panels);
  // The same for gemm_rows full rows into the A layout (dst[p * gemm_rows + r]).
  bool (*gemm_pack_a)(float* dst, const void* src, int type, int64_t row_stride, int64_t kc);
  // Decode GEMV (kernels/gemv_kernel.h): y[t*ldy + o] (+)= x[t]·w[o] for 1..4 tokens, o in [o_begin, o_end);
  // type 0 = f32 weights, 1 = bf16 bits.
  void (*gemv)(float* y, int64_t ldy, const float* x, int64_t ldx, const void* w, int type, int64_t in,
               int64_t o_begin, int64_t o_end, int tokens, bool accumulate);
  // Sampling (kernels/sampling_kernel.h): z = (z - max)·inverse_temperature, weight = exp(z).
  void (*sampling_weights)(float* weight, float* z, int64_t n, float max_value, float inverse_temperature);
};

namespace portable { const KernelTable& kernel_table(); }
namespace avx2 { const KernelTable& kernel_table(); }
namespace avx512 { const KernelTable& kernel_table(); }

// The table for the best ISA this CPU supports (see selected_isa()).
const KernelTable& kernels();

}  // namespace pillow
