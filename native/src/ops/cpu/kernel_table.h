// The table of per-ISA kernels. Each ISA translation unit (isa/*.cc) compiles the same kernel
// sources with its own -m flags and fills one table; dispatch.cc picks the table by cpuid once.
#pragma once
#include <cstdint>

#include "runtime/cpu_features.h"

namespace pillow {

// out[0, rows) = W row r · x for rows (1..4) row_bytes apart from w, W in Q8_0 blocks and x in Q8_0
// (x_codes [32·blocks] int8, x_scales [blocks] f32); every variant gives the same bits.
using Q8_0DotRows = void (*)(float* out, const uint8_t* w, int64_t row_bytes, const int8_t* x_codes,
                             const float* x_scales, int64_t blocks, int rows);
// The same for W in Q4_0 blocks (x in Q8_0 still); every variant gives the same bits.
using Q4_0DotRows = Q8_0DotRows;
// The same for W in Q4_K super-blocks and x in Q8_K (x_codes [256·blocks], x_scales [blocks], blocks
// counting 256-value super-blocks); every variant gives the same bits.
using Q4_KDotRows = Q8_0DotRows;

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
  // Q8_0 × Q8_0 dot products (kernels/q8_0_dot_kernel.h): out[r] = W row r · x for 1..4 rows.
  Q8_0DotRows q8_0_dot_rows;
  // Q4_0 × Q8_0 dot products (kernels/q4_0_dot_kernel.h): out[r] = W row r · x for 1..4 rows.
  Q4_0DotRows q4_0_dot_rows;
  // Q4_K × Q8_K dot products (kernels/q4_k_dot_kernel.h): out[r] = W row r · x for 1..4 rows.
  Q4_KDotRows q4_k_dot_rows;
};

// A BF16 dot-product GEMM for bf16 weights (ops/cpu/gemm_bf16.h): a rows x columns tile of C
// from packed bf16 pairs, and the packing of f32 x (rounded to bf16) and of bf16 W into pairs, in
// blocks of a multiple of pair_granularity pairs (zero-padded). Two fill it: isa/amx.cc (AMX
// tiles, kernels/gemm_amx_kernel.h) and isa/avx512_bf16.cc (vdpbf16ps, kernels/gemm_bf16_kernel.h).
struct Bf16DotKernels {
  const char* name;
  int rows;
  int columns;
  int pair_granularity;
  void (*micro)(float* c, int64_t ldc, const uint32_t* a_packed, const uint32_t* b_packed, int64_t pairs, int rows,
                int cols, bool accumulate);
  void (*pack_a)(uint32_t* dst, const float* x, int64_t row_stride, int rows, int64_t k_valid, int64_t pairs);
  void (*pack_b)(uint32_t* dst, const uint16_t* w, int64_t row_stride, int cols, int64_t k_valid, int64_t pairs);
  // Around every run of micro calls on a thread, where the kernel keeps state in the thread (AMX's
  // tile configuration; nullptr for the others): begin saves the thread's state into 64 bytes and
  // sets the kernel's, end puts the saved state back.
  void (*begin)(uint8_t* saved) = nullptr;
  void (*end)(const uint8_t* saved) = nullptr;
};

namespace portable { const KernelTable& kernel_table(); }
namespace avx2 { const KernelTable& kernel_table(); }
namespace avx512 { const KernelTable& kernel_table(); }

namespace avx512_bf16 {
const Bf16DotKernels* bf16_dot_kernels();
// vdpbf16ps multiply-adds per second over f32 FMA multiply-adds per second on this core (a ~2 ms
// probe of independent chains): 2 where the instruction runs at the FMA's rate, ~0.5 on hosts
// that run it at a quarter of it. Only call where the CPU has AVX512-BF16.
double dot_product_speedup();
}
namespace amx { const Bf16DotKernels* bf16_dot_kernels(); }
// The Q8_0, Q4_0 and Q4_K dot products with vpdpbusd (isa/avx512_vnni.cc); nullptr where built without it.
namespace avx512_vnni {
Q8_0DotRows q8_0_dot_kernel();
Q4_0DotRows q4_0_dot_kernel();
Q4_KDotRows q4_k_dot_kernel();
}

// The table for the best ISA this CPU supports (see selected_isa()).
const KernelTable& kernels();

// The Q8_0 dot products for this CPU, chosen once: AVX-512 VNNI where the AVX-512 kernels are
// selected and the CPU has VNNI, else the selected table's (AVX2, or the portable loop). All give
// the same bits; PILLOW_ISA lowers the choice like the table's.
Q8_0DotRows q8_0_dot_kernel();

// The Q4_0 dot products for this CPU, chosen as q8_0_dot_kernel() is.
Q4_0DotRows q4_0_dot_kernel();

// The Q4_K dot products for this CPU, chosen as q8_0_dot_kernel() is.
Q4_KDotRows q4_k_dot_kernel();

// The BF16 dot-product kernels for bf16 weights, chosen once per process: AMX where the CPU has
// it and the OS grants its tiles; else vdpbf16ps where the CPU has AVX512-BF16 and a short probe
// finds it faster than f32 FMAs (on some hosts it runs at a third of their rate); else nullptr
// (bf16 weights are widened to f32). Only with the AVX-512 kernels selected (PILLOW_ISA may lower
// it). PILLOW_BF16_DOT=off turns them off, =avx512_bf16 skips AMX; read at every call, so tests and
// benches can compare the paths in one process.
const Bf16DotKernels* bf16_dot_kernels();

}  // namespace pillow
