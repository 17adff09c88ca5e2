// The fused LoRA operand of the CPU GEMM (gemm_fused_lora.cc, see GemmDerivedOperand). Internal to
// the CPU GEMM.
#pragma once
#include <cstdint>

#include "ops/cpu/gemm.h"
#include "ops/cpu/gemm_blocking.h"

namespace pillow {
struct KernelTable;
}

namespace pillow::gemm_internal {

// Whether any segment of `problem` is derived (its A operand computed while packing).
bool has_derived(const GemmProblem& problem);

// D of every derived segment of `problem`, packed as B panels over its source's whole k, one
// segment after another, followed by room for one [MR, rank] tile. Packed once per thread and call.
const float* pack_derived_downs(const KernelTable& kernel, const GemmProblem& problem, Scratch& scratch);

// Fills the packed k steps of every derived segment for rows [m_begin, m_end) of the range at
// range_m0, after pack_rows packed their sources: the micro-kernel runs on the source's packed
// panels against D (from pack_derived_downs), and the scaled tile is scattered to the segment's k steps.
void fill_derived_rows(const KernelTable& kernel, const GemmProblem& problem, int64_t range_m0, int64_t m_begin,
                       int64_t m_end, float* buffer, int64_t rows_padded, const float* downs);

}  // namespace pillow::gemm_internal
