// Packing for the CPU GEMM (gemm_packing.cc): operands into the micro-kernel's A and B panels.
// Internal to the CPU GEMM.
#pragma once
#include <cstdint>

#include "ops/cpu/gemm.h"
#include "ops/cpu/gemm_blocking.h"

namespace pillow {
struct KernelTable;
}

namespace pillow::gemm_internal {

// The B operand's columns [n, n + cols) over k in [k0, k0 + kc) as one NR-wide panel at dst.
void pack_b_block(const KernelTable& kernel, float* dst, const GemmOperand& b, int64_t n, int cols, int64_t k0,
                  int64_t kc);

// B panels for columns [n0, n1), panel i at dst + i·panel_stride. An operand read down its columns
// (row_stride 1: W in dy·W) is packed for all full panels in one pass over its rows.
void pack_b_chunk(const KernelTable& kernel, float* dst, int64_t panel_stride, const GemmOperand& b, int64_t n0,
                  int64_t n1, int64_t k0, int64_t kc);

// Floats between consecutive panels of a prepacked B operand (GemmOperand::prepacked).
int64_t prepacked_panel_stride(const GemmOperand& b, int64_t k_length, int nr);

// The A operand's rows [m, m + rows) over k in [k0, k0 + kc) as one MR-row panel at dst.
void pack_a_block(const KernelTable& kernel, float* dst, const GemmOperand& a, int64_t m, int rows, int64_t k0,
                  int64_t kc);

// Packs rows [m_begin, m_end) of A, part of the row range that starts at range_m0, for every
// logical k block into `buffer` (the range's layout: see PackedRows). Derived segments are left
// for fill_derived_rows.
void pack_rows(const KernelTable& kernel, const GemmProblem& problem, int64_t range_m0, int64_t m_begin, int64_t m_end,
               float* buffer, int64_t rows_padded);

}  // namespace pillow::gemm_internal
