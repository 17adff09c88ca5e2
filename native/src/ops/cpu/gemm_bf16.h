// The GEMM for bf16 weights through BF16 dot products (vdpbf16ps, kernels/gemm_bf16_kernel.h), on
// CPUs that have AVX512-BF16: x is rounded to bf16 as it is packed (the rounding oneDNN and
// llama.cpp apply to activations for their bf16 dot products), W's bf16 values are used as they
// are, and the sums are f32. The prefill of a bf16 model runs on it; everything else, and every
// CPU without the instructions, widens bf16 weights to f32 in the f32 GEMM (ops/cpu/gemm.h).
#pragma once
#include <cstdint>

namespace pillow {

// True when gemm_bf16_dot can run here (see bf16_dot_kernels() in ops/cpu/kernel_table.h).
bool gemm_bf16_dot_available();
// The kernels it runs on: "amx", "avx512_bf16", or nullptr when bf16 weights are widened to f32.
const char* gemm_bf16_dot_kernel_name();

// c[m·ldc + n] = (accumulate ? c : 0) + Σ_k bf16(x[m·x_row_stride + k])·w[n·w_row_stride + k], for
// m < rows, n < columns, k < depth; w holds bf16 bit patterns. Throws E_ARGUMENT when the
// instructions are missing (callers check gemm_bf16_dot_available first) or for null or
// non-positive arguments. Runs on the thread pool; must not be called from inside a parallel_for body.
void gemm_bf16_dot(float* c, int64_t ldc, int64_t rows, int64_t columns, const float* x, int64_t x_row_stride,
                   const uint16_t* w, int64_t w_row_stride, int64_t depth, bool accumulate);

}  // namespace pillow
