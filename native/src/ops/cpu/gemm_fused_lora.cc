// The fused LoRA operand of the CPU GEMM (GemmDerivedOperand): u = s·x·Aᵀ computed while A's rows
// are packed, from those packed panels, so the rank-r down projection is neither a GEMM call of its
// own nor a second pass over x.
#include "ops/cpu/gemm_fused_lora.h"

#include <algorithm>

#include "ops/cpu/gemm_packing.h"
#include "ops/cpu/kernel_table.h"

namespace pillow::gemm_internal {

namespace {

// Where segment `segment` starts in the problem's logical K.
int64_t segment_start(const GemmProblem& problem, int segment) {
  int64_t start = 0;
  for (int s = 0; s < segment; ++s) start += problem.segments[s].k_length;
  return start;
}

}  // namespace

bool has_derived(const GemmProblem& problem) {
  for (int s = 0; s < problem.segment_count; ++s)
    if (problem.segments[s].derived != nullptr) return true;
  return false;
}

const float* pack_derived_downs(const KernelTable& kernel, const GemmProblem& problem, Scratch& scratch) {
  const int mr = kernel.gemm_rows;
  const int nr = kernel.gemm_columns;
  int64_t size = 0, tile = 0;
  for (int d = 0; d < problem.segment_count; ++d) {
    const GemmSegment& segment = problem.segments[d];
    if (segment.derived == nullptr) continue;
    const int64_t rank_padded = (segment.k_length + nr - 1) / nr * nr;
    size += rank_padded * problem.segments[segment.derived->source].k_length;
    tile = std::max(tile, mr * rank_padded);
  }
  float* data = scratch.get(static_cast<size_t>(std::max<int64_t>(1, size + tile)));
  float* out = data;
  for (int d = 0; d < problem.segment_count; ++d) {
    const GemmSegment& segment = problem.segments[d];
    if (segment.derived == nullptr) continue;
    const int64_t rank = segment.k_length;
    const int64_t source_length = problem.segments[segment.derived->source].k_length;
    for (int64_t panel = 0; panel * nr < rank; ++panel) {
      const int cols = static_cast<int>(std::min<int64_t>(nr, rank - panel * nr));
      if (source_length > 0) pack_b_block(kernel, out + panel * nr * source_length, segment.derived->down, panel * nr, cols, 0, source_length);
    }
    out += (rank + nr - 1) / nr * nr * source_length;
  }
  return data;
}

// Fills the packed k steps of every derived segment (see GemmDerivedOperand) for rows
// [m_begin, m_end) of the range at range_m0, after pack_rows packed their sources: the
// micro-kernel runs on the source's packed panels against D (from pack_derived_downs), and the
// scaled tile is scattered to the segment's k steps.
void fill_derived_rows(const KernelTable& kernel, const GemmProblem& problem, int64_t range_m0, int64_t m_begin,
                       int64_t m_end, float* buffer, int64_t rows_padded, const float* downs) {
  const int mr = kernel.gemm_rows;
  const int nr = kernel.gemm_columns;
  const KBlocks blocks = k_blocks(problem);
  int64_t downs_size = 0;
  for (int d = 0; d < problem.segment_count; ++d) {
    const GemmSegment& segment = problem.segments[d];
    if (segment.derived != nullptr)
      downs_size += (segment.k_length + nr - 1) / nr * nr * problem.segments[segment.derived->source].k_length;
  }
  float* tile = const_cast<float*>(downs) + downs_size;  // the [MR, rank_padded] room after the panels
  const float* down = downs;
  for (int d = 0; d < problem.segment_count; ++d) {
    const GemmSegment& segment = problem.segments[d];
    if (segment.derived == nullptr) continue;
    const GemmDerivedOperand& derived = *segment.derived;
    const int64_t derived_start = segment_start(problem, d);
    const int64_t source_start = segment_start(problem, derived.source);
    const int64_t source_length = problem.segments[derived.source].k_length;
    const int64_t rank = segment.k_length;
    const int64_t panels = (rank + nr - 1) / nr;
    const int64_t rank_padded = panels * nr;
    for (int64_t m = m_begin; m < m_end; m += mr) {
      bool first = true;
      for (int64_t block = 0; block < blocks.count; ++block) {
        const int64_t k0 = blocks.begin(block), kc = blocks.end(block) - k0;
        const int64_t lo = std::max(k0, source_start), hi = std::min(k0 + kc, source_start + source_length);
        if (lo >= hi) continue;
        const float* a_panel = buffer + k0 * rows_padded + (m - range_m0) * kc + (lo - k0) * mr;
        for (int64_t panel = 0; panel < panels; ++panel) {
          kernel.gemm_micro(tile + panel * nr, rank_padded, a_panel, down + panel * nr * source_length + (lo - source_start) * nr,
                            hi - lo, mr, nr, !first);
        }
        first = false;
      }
      if (first) std::fill(tile, tile + mr * rank_padded, 0.0f);
      for (int64_t block = 0; block < blocks.count; ++block) {
        const int64_t k0 = blocks.begin(block), kc = blocks.end(block) - k0;
        const int64_t lo = std::max(k0, derived_start), hi = std::min(k0 + kc, derived_start + rank);
        float* panel = buffer + k0 * rows_padded + (m - range_m0) * kc;
        for (int64_t position = lo; position < hi; ++position) {
          float* dst = panel + (position - k0) * mr;
          const float* column = tile + (position - derived_start);
          for (int r = 0; r < mr; ++r) dst[r] = derived.scale * column[r * rank_padded];
        }
      }
    }
    down += rank_padded * source_length;
  }
}

}  // namespace pillow::gemm_internal
