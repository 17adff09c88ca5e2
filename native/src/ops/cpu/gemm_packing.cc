// Packing for the CPU GEMM: operands (f32, bf16, Q8_0, Q4_0 or Q4_K blocks, any strides) copied into the micro-kernel's
// MR-row A panels and NR-column B panels, through the ISA's fast packers where the layout allows,
// and B operands prepacked once over their whole K (weights).
#include "ops/cpu/gemm_packing.h"

#include <algorithm>
#include <vector>

#include "ops/common/bf16.h"
#include "ops/cpu/kernel_table.h"
#include "ops/cpu/quantized_matvec.h"
#include "runtime/thread_pool.h"

namespace pillow {

namespace {

inline float element(const GemmOperand& op, int64_t row, int64_t k) {
  const int64_t offset = row * op.row_stride + k * op.k_stride;
  if (is_block_quantized(op.type)) return block_value(op.type, static_cast<const uint8_t*>(op.data), offset);
  if (op.type == WeightType::BF16) return bf16_to_f32(static_cast<const uint16_t*>(op.data)[offset]);
  return static_cast<const float*>(op.data)[offset];
}

// This thread's f32 room for dequantized Q8_0 / Q4_0 / Q4_K values (at least `floats`): packing a block
// operand dequantizes rows into it first, so the ISA's fast f32 packers can then lay them into panels.
std::vector<float>& block_scratch(int64_t floats) {
  thread_local std::vector<float> scratch;
  if (static_cast<int64_t>(scratch.size()) < floats) scratch.resize(static_cast<size_t>(floats));
  return scratch;
}

// dst[p * width + r] = op(row0 + r, k0 + p) for r < rows, p < kc; rows in [rows, width) are zero.
template <typename T>
void pack_panel_typed(float* dst, const T* base, const GemmOperand& op, int64_t row0, int rows, int64_t k0,
                      int64_t kc, int width) {
  auto widen = [](T value) -> float {
    if constexpr (sizeof(T) == 2) return bf16_to_f32(value); else return value;
  };
  if (rows < width) {
    for (int64_t p = 0; p < kc; ++p)
      for (int r = rows; r < width; ++r) dst[p * width + r] = 0.0f;
  }
  if (op.k_stride == 1) {
    // Rows contiguous along k (x, W in x·Wᵀ): read each row once, write it strided.
    for (int r = 0; r < rows; ++r) {
      const T* src = base + (row0 + r) * op.row_stride + k0;
      float* out = dst + r;
      for (int64_t p = 0; p < kc; ++p) out[p * width] = widen(src[p]);
    }
  } else if (op.row_stride == 1) {
    // Consecutive rows adjacent in memory (W in dy·W): each k step is one contiguous copy, from a
    // different row of W (k_stride apart). Those loads missed cache one after the other (~90 % of
    // this loop's samples sat on them in a 134M LoRA step), so the copy kPackPrefetchSteps steps
    // ahead is prefetched: the misses overlap instead.
    constexpr int64_t kPackPrefetchSteps = 16;
    for (int64_t p = 0; p < kc; ++p) {
      const T* src = base + (k0 + p) * op.k_stride + row0;
      __builtin_prefetch(src + kPackPrefetchSteps * op.k_stride, 0, 0);  // never faults, even past the end
      float* out = dst + p * width;
      for (int r = 0; r < rows; ++r) out[r] = widen(src[r]);
    }
  } else {
    for (int64_t p = 0; p < kc; ++p)
      for (int r = 0; r < rows; ++r) dst[p * width + r] = element(op, row0 + r, k0 + p);
  }
}

// pack_panel_typed for a Q8_0, Q4_0 or Q4_K operand (a weight W[out, in] in blocks, viewed with in·1 or
// 1·in strides): blocks are dequantized as they are read, so the micro-kernel sees the same f32
// values as from the dequantized matrix (code·d, llama.cpp's dequantization) and the GEMM is unchanged.
void pack_panel_blocks(float* dst, const GemmOperand& op, int64_t row0, int rows, int64_t k0, int64_t kc, int width) {
  const uint8_t* base = static_cast<const uint8_t*>(op.data);
  if (rows < width) {
    for (int64_t p = 0; p < kc; ++p)
      for (int r = rows; r < width; ++r) dst[p * width + r] = 0.0f;
  }
  if (op.k_stride == 1) {
    // x·Wᵀ: row r of the panel is a stretch of a row of W along k.
    std::vector<float>& values = block_scratch(kc);
    for (int r = 0; r < rows; ++r) {
      block_dequantize_range(op.type, values.data(), base, (row0 + r) * op.row_stride + k0, kc);
      for (int64_t p = 0; p < kc; ++p) dst[p * width + r] = values[p];
    }
  } else if (op.row_stride == 1) {
    // dy·W: k step p is a stretch of a row of W, the panel's rows consecutive values in it.
    for (int64_t p = 0; p < kc; ++p) {
      block_dequantize_range(op.type, dst + p * width, base, (k0 + p) * op.k_stride + row0, rows);
    }
  } else {
    for (int64_t p = 0; p < kc; ++p)
      for (int r = 0; r < rows; ++r) dst[p * width + r] = element(op, row0 + r, k0 + p);
  }
}

void pack_panel(float* dst, const GemmOperand& op, int64_t row0, int rows, int64_t k0, int64_t kc, int width) {
  if (is_block_quantized(op.type)) {
    pack_panel_blocks(dst, op, row0, rows, k0, kc, width);
  } else if (op.type == WeightType::BF16) {
    pack_panel_typed(dst, static_cast<const uint16_t*>(op.data), op, row0, rows, k0, kc, width);
  } else {
    pack_panel_typed(dst, static_cast<const float*>(op.data), op, row0, rows, k0, kc, width);
  }
}

}  // namespace

namespace gemm_internal {

void pack_b_block(const KernelTable& kernel, float* dst, const GemmOperand& b, int64_t n, int cols, int64_t k0,
                  int64_t kc) {
  const int nr = kernel.gemm_columns;
  if (cols == nr && b.k_stride == 1 && is_block_quantized(b.type)) {
    // NR rows of W dequantized side by side (row stride kc), then the fast f32 packer.
    std::vector<float>& rows = block_scratch(static_cast<int64_t>(nr) * kc);
    for (int r = 0; r < nr; ++r) {
      block_dequantize_range(b.type, rows.data() + r * kc, static_cast<const uint8_t*>(b.data),
                             (n + r) * b.row_stride + k0, kc);
    }
    if (kernel.gemm_pack_b(dst, rows.data(), 0, kc, kc)) return;
  }
  if (cols == nr && b.k_stride == 1 && !is_block_quantized(b.type)) {
    const void* src = b.type == WeightType::BF16
                          ? static_cast<const void*>(static_cast<const uint16_t*>(b.data) + n * b.row_stride + k0)
                          : static_cast<const void*>(static_cast<const float*>(b.data) + n * b.row_stride + k0);
    if (kernel.gemm_pack_b(dst, src, b.type == WeightType::BF16 ? 1 : 0, b.row_stride, kc)) return;
  }
  pack_panel(dst, b, n, cols, k0, kc, nr);
}

void pack_b_chunk(const KernelTable& kernel, float* dst, int64_t panel_stride, const GemmOperand& b, int64_t n0,
                  int64_t n1, int64_t k0, int64_t kc) {
  const int nr = kernel.gemm_columns;
  int64_t n = n0;
  const int full_panels = static_cast<int>((n1 - n0) / nr);
  if (b.row_stride == 1 && b.k_stride != 1 && full_panels > 0 && is_block_quantized(b.type)) {
    // kc stretches of rows of W (the panels' columns) dequantized one under another, then the fast
    // f32 packer over them.
    const int64_t width = static_cast<int64_t>(full_panels) * nr;
    std::vector<float>& steps = block_scratch(width * kc);
    for (int64_t p = 0; p < kc; ++p) {
      block_dequantize_range(b.type, steps.data() + p * width, static_cast<const uint8_t*>(b.data),
                             (k0 + p) * b.k_stride + n0, width);
    }
    if (kernel.gemm_pack_b_columns(dst, panel_stride, steps.data(), 0, width, kc, full_panels)) {
      n += width;
    }
  } else if (b.row_stride == 1 && b.k_stride != 1 && full_panels > 0) {
    const void* src = b.type == WeightType::BF16
                          ? static_cast<const void*>(static_cast<const uint16_t*>(b.data) + k0 * b.k_stride + n0)
                          : static_cast<const void*>(static_cast<const float*>(b.data) + k0 * b.k_stride + n0);
    if (kernel.gemm_pack_b_columns(dst, panel_stride, src, b.type == WeightType::BF16 ? 1 : 0, b.k_stride, kc,
                                   full_panels)) {
      n += static_cast<int64_t>(full_panels) * nr;
    }
  }
  for (; n < n1; n += nr) {
    pack_b_block(kernel, dst + (n - n0) / nr * panel_stride, b, n, static_cast<int>(std::min<int64_t>(nr, n1 - n)), k0, kc);
  }
}

int64_t prepacked_panel_stride(const GemmOperand& b, int64_t k_length, int nr) {
  return b.panel_stride > 0 ? b.panel_stride : k_length * nr;
}

void pack_a_block(const KernelTable& kernel, float* dst, const GemmOperand& a, int64_t m, int rows, int64_t k0,
                  int64_t kc) {
  const int mr = kernel.gemm_rows;
  if (rows == mr && a.k_stride == 1 && !is_block_quantized(a.type)) {
    const void* src = a.type == WeightType::BF16
                          ? static_cast<const void*>(static_cast<const uint16_t*>(a.data) + m * a.row_stride + k0)
                          : static_cast<const void*>(static_cast<const float*>(a.data) + m * a.row_stride + k0);
    if (kernel.gemm_pack_a(dst, src, a.type == WeightType::BF16 ? 1 : 0, a.row_stride, kc)) return;
  }
  pack_panel(dst, a, m, rows, k0, kc, mr);
}

void pack_rows(const KernelTable& kernel, const GemmProblem& problem, int64_t range_m0, int64_t m_begin, int64_t m_end,
               float* buffer, int64_t rows_padded) {
  const int mr = kernel.gemm_rows;
  const KBlocks blocks = k_blocks(problem);
  for (int64_t block = 0; block < blocks.count && blocks.total > 0; ++block) {
    const int64_t k0 = blocks.begin(block);
    const int64_t kc = blocks.end(block) - k0;
    for (int64_t m = m_begin; m < m_end; m += mr) {
      const int rows = static_cast<int>(std::min<int64_t>(mr, m_end - m));
      float* dst = buffer + k0 * rows_padded + (m - range_m0) * kc;
      for_each_part(problem, k0, kc, [&](const GemmSegment& segment, int64_t segment_k0, int64_t length, int64_t offset) {
        if (segment.derived == nullptr) pack_a_block(kernel, dst + offset * mr, segment.a, m, rows, segment_k0, length);
      });
    }
  }
}

}  // namespace gemm_internal

using namespace gemm_internal;

int64_t gemm_prepacked_size(int64_t rows, int64_t k_length) {
  const int64_t nr = kernels().gemm_columns;
  return (rows + nr - 1) / nr * nr * std::max<int64_t>(k_length, 0);
}

int64_t gemm_panel_width() { return kernels().gemm_columns; }

void gemm_prepack(float* dst, const GemmOperand& b, int64_t rows, int64_t k_length, int64_t panel_stride) {
  const KernelTable& kernel = kernels();
  const int64_t nr = kernel.gemm_columns;
  const int64_t chunk = kChunkColumnTiles * nr;
  GemmOperand source = b;
  source.prepacked = nullptr;
  source.panel_stride = panel_stride;
  const int64_t stride = prepacked_panel_stride(source, k_length, static_cast<int>(nr));
  // Panel j over the whole k range is panel j of pack_b_chunk with that panel stride.
  parallel_for((rows + chunk - 1) / chunk, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t n0 = i * chunk, n1 = std::min(rows, n0 + chunk);
      pack_b_chunk(kernel, dst + n0 / nr * stride, stride, source, n0, n1, 0, k_length);
    }
  });
}

}  // namespace pillow
