// The one GEMM every matmul-shaped op is built on: cache-blocked, packed, multi-threaded, with
// the ISA's register-tile micro-kernel. Operands are strided views, so every layout the LoRA
// forward and backward need (x·Wᵀ, dy·W, gᵀ·x, ...) is the same code with different strides;
// a product may be a sum over several K segments, which is how LoRA rides along the base GEMM:
// y = [x | s·xAᵀ] · [W | B]ᵀ is two segments, one call, one pass over C.
#pragma once
#include <cstdint>

#include "ops/common/weight_view.h"

namespace pillow {

// Element (row, k) of the operand is data[row * row_stride + k * k_stride], an f32 or a bf16.
// prepacked (B operands only; may be nullptr): the operand already in the micro-kernel's layout over
// the segment's whole k_length, from gemm_prepack: panel j (rows j·NR … j·NR + NR − 1, zero-padded)
// at prepacked + j·panel_stride (0: k_length·NR), k step p at + p·NR. A K block whose parts are all
// prepacked and follow each other in memory (a weight's panels with room after them for the LoRA
// factor's k steps, see WeightView) is read in place; other prepacked parts are copied.
struct GemmOperand {
  const void* data;
  WeightType type;
  int64_t row_stride;
  int64_t k_stride;
  const float* prepacked = nullptr;
  int64_t panel_stride = 0;
};

// An A operand the GEMM computes itself while packing: A(m, j) = scale · Σ_k S(m, k)·D(j, k), where
// S is the A operand of the earlier segment `source` (over its whole k_length) and D is indexed
// (j, k). The fused LoRA forward uses it for u = s·x·Aᵀ: each thread derives u for the rows of x it
// has just packed, from those packed panels, so the rank-r down projection is neither a GEMM call
// of its own nor a second pass over x.
struct GemmDerivedOperand {
  GemmOperand down;  // D
  float scale;
  int source;  // index of a non-derived segment before this one
};

// One term of the product: sum over k in [0, k_length) of A(m, k) · B(n, k).
struct GemmSegment {
  GemmOperand a;  // indexed (m, k); unused when `derived` is set
  GemmOperand b;  // indexed (n, k)
  int64_t k_length;
  const GemmDerivedOperand* derived = nullptr;
};

// c[m * ldc + n] = (accumulate ? c : 0) + Σ_segments Σ_k A(m, k)·B(n, k), for m < rows, n < columns.
// Runs on the thread pool; must not be called from inside a parallel_for body.
void gemm(float* c, int64_t ldc, int64_t rows, int64_t columns, const GemmSegment* segments, int segment_count,
          bool accumulate);

// Several independent products run as one parallel job (multi-adapter LoRA: one per adapter group).
struct GemmProblem {
  float* c;
  int64_t ldc;
  int64_t rows;
  int64_t columns;
  const GemmSegment* segments;
  int segment_count;
};
void gemm_batched(const GemmProblem* problems, int64_t problem_count, bool accumulate);

// The same product for small operands, on the calling thread only: packs into this thread's scratch
// and never touches the pool, so it may run inside a parallel_for body (attention runs one per
// head and query block). c[m * ldc + n] = (accumulate ? c : 0) + Σ_k A(m, k)·B(n, k).
void gemm_on_this_thread(float* c, int64_t ldc, int64_t rows, int64_t columns, const GemmOperand& a,
                         const GemmOperand& b, int64_t k_length, bool accumulate);

// NR: the columns of one packed B panel.
int64_t gemm_panel_width();
// Floats gemm_prepack writes for an operand of `rows` rows (the product's columns) and k_length steps.
int64_t gemm_prepacked_size(int64_t rows, int64_t k_length);
// dst = b packed as GemmOperand::prepacked describes, panels panel_stride floats apart (>= k_length·NR;
// 0 means k_length·NR; the floats between are left as they are). Runs on the thread pool.
void gemm_prepack(float* dst, const GemmOperand& b, int64_t rows, int64_t k_length, int64_t panel_stride = 0);

// Element (row, k) as f32.
inline GemmOperand f32_operand(const float* data, int64_t row_stride, int64_t k_stride) {
  return GemmOperand{data, WeightType::F32, row_stride, k_stride};
}

}  // namespace pillow
