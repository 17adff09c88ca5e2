#include "ops/cpu/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <vector>

#include "ops/common/bf16.h"
#include "ops/cpu/kernel_table.h"
#include "runtime/thread_pool.h"

namespace pillow {

namespace {

// Block sizes (BLIS terms): a kc x NR panel of B stays in L1 while the MR-row panels of an
// mc x kc block of A stream from L2; a chunk of kChunkColumns columns is one unit of parallel work.
constexpr int64_t kBlockK = 256;
constexpr int64_t kBlockRowsTiles = 12;     // mc = 12 * MR
constexpr int64_t kChunkColumnTiles = 8;    // chunk = 8 * NR columns

// A 64-byte aligned scratch buffer per thread, grown on demand and kept between calls.
struct Scratch {
  float* data = nullptr;
  size_t capacity = 0;
  ~Scratch() { std::free(data); }
  float* get(size_t count) {
    if (count > capacity) {
      std::free(data);
      const size_t bytes = ((count * sizeof(float)) + 63) / 64 * 64;
      data = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (data == nullptr) throw std::bad_alloc();
      capacity = bytes / sizeof(float);
    }
    return data;
  }
};

inline float element(const GemmOperand& op, int64_t row, int64_t k) {
  const int64_t offset = row * op.row_stride + k * op.k_stride;
  if (op.type == WeightType::BF16) return bf16_to_f32(static_cast<const uint16_t*>(op.data)[offset]);
  return static_cast<const float*>(op.data)[offset];
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
    // Consecutive rows adjacent in memory (W in dy·W): each k step is one contiguous copy.
    for (int64_t p = 0; p < kc; ++p) {
      const T* src = base + (k0 + p) * op.k_stride + row0;
      float* out = dst + p * width;
      for (int r = 0; r < rows; ++r) out[r] = widen(src[r]);
    }
  } else {
    for (int64_t p = 0; p < kc; ++p)
      for (int r = 0; r < rows; ++r) dst[p * width + r] = element(op, row0 + r, k0 + p);
  }
}

void pack_panel(float* dst, const GemmOperand& op, int64_t row0, int rows, int64_t k0, int64_t kc, int width) {
  if (op.type == WeightType::BF16) {
    pack_panel_typed(dst, static_cast<const uint16_t*>(op.data), op, row0, rows, k0, kc, width);
  } else {
    pack_panel_typed(dst, static_cast<const float*>(op.data), op, row0, rows, k0, kc, width);
  }
}

}  // namespace

namespace {

// One unit of parallel work: a column chunk x row range of one problem.
struct WorkItem {
  int64_t problem;
  int64_t n0, n1, m0, m1;
};

void run_item(const KernelTable& kernel, const GemmProblem& problem, const WorkItem& item, bool accumulate,
              float* a_packed, float* b_packed) {
  const int mr = kernel.gemm_rows;
  const int nr = kernel.gemm_columns;
  const int64_t block_rows = kBlockRowsTiles * mr;
  float* c = problem.c;
  const int64_t ldc = problem.ldc;
  bool accumulate_block = accumulate;
  for (int s = 0; s < problem.segment_count; ++s) {
    const GemmSegment& segment = problem.segments[s];
    for (int64_t k0 = 0; k0 < segment.k_length; k0 += kBlockK) {
      const int64_t kc = std::min(kBlockK, segment.k_length - k0);
      for (int64_t n = item.n0; n < item.n1; n += nr) {
        pack_panel(b_packed + (n - item.n0) * kc, segment.b, n, static_cast<int>(std::min<int64_t>(nr, item.n1 - n)),
                   k0, kc, nr);
      }
      for (int64_t mb = item.m0; mb < item.m1; mb += block_rows) {
        const int64_t mb_end = std::min(item.m1, mb + block_rows);
        for (int64_t m = mb; m < mb_end; m += mr) {
          pack_panel(a_packed + (m - mb) * kc, segment.a, m, static_cast<int>(std::min<int64_t>(mr, mb_end - m)), k0,
                     kc, mr);
        }
        for (int64_t n = item.n0; n < item.n1; n += nr) {
          const int cols = static_cast<int>(std::min<int64_t>(nr, item.n1 - n));
          const float* b_panel = b_packed + (n - item.n0) * kc;
          for (int64_t m = mb; m < mb_end; m += mr) {
            const int tile_rows = static_cast<int>(std::min<int64_t>(mr, mb_end - m));
            kernel.gemm_micro(c + m * ldc + n, ldc, a_packed + (m - mb) * kc, b_panel, kc, tile_rows, cols,
                              accumulate_block);
          }
        }
      }
      accumulate_block = true;
    }
  }
  if (!accumulate_block) {  // no K at all: the product is zero
    for (int64_t m = item.m0; m < item.m1; ++m) std::fill(c + m * ldc + item.n0, c + m * ldc + item.n1, 0.0f);
  }
}

}  // namespace

void gemm_batched(const GemmProblem* problems, int64_t problem_count, bool accumulate) {
  const KernelTable& kernel = kernels();
  const int mr = kernel.gemm_rows;
  const int nr = kernel.gemm_columns;
  const int64_t block_rows = kBlockRowsTiles * mr;
  const int64_t chunk_columns = kChunkColumnTiles * nr;
  const int64_t threads = thread_count();

  // Work: column chunks, each streaming its slice of B once; when a problem has too few chunks to
  // feed every thread, its rows are split as well (B's slice is then packed once per row split).
  std::vector<WorkItem> items;
  double flops = 0;
  for (int64_t p = 0; p < problem_count; ++p) {
    const GemmProblem& problem = problems[p];
    if (problem.rows <= 0 || problem.columns <= 0) continue;
    int64_t total_k = 0;
    for (int s = 0; s < problem.segment_count; ++s) total_k += problem.segments[s].k_length;
    flops += 2.0 * problem.rows * problem.columns * static_cast<double>(std::max<int64_t>(total_k, 1));
    const int64_t column_chunks = (problem.columns + chunk_columns - 1) / chunk_columns;
    const int64_t row_blocks = (problem.rows + block_rows - 1) / block_rows;
    const int64_t row_splits =
        std::min(row_blocks, std::max<int64_t>(1, (2 * threads + column_chunks - 1) / column_chunks));
    for (int64_t chunk = 0; chunk < column_chunks; ++chunk) {
      for (int64_t split = 0; split < row_splits; ++split) {
        WorkItem item;
        item.problem = p;
        item.n0 = chunk * chunk_columns;
        item.n1 = std::min(problem.columns, item.n0 + chunk_columns);
        item.m0 = std::min(problem.rows, (row_blocks * split / row_splits) * block_rows);
        item.m1 = std::min(problem.rows, (row_blocks * (split + 1) / row_splits) * block_rows);
        if (item.m0 < item.m1) items.push_back(item);
      }
    }
  }
  if (items.empty()) return;
  const int64_t count = static_cast<int64_t>(items.size());
  // Small products are not worth waking the pool for (~10 µs); 1 MFLOP takes ~20 µs on one core.
  const int64_t grain = flops >= 2e6 ? 1 : count;
  parallel_for(count, grain, [&](int64_t begin, int64_t end) {
    static thread_local Scratch a_scratch, b_scratch;
    float* b_packed = b_scratch.get(static_cast<size_t>(kBlockK * chunk_columns));
    float* a_packed = a_scratch.get(static_cast<size_t>(kBlockK * block_rows));
    for (int64_t i = begin; i < end; ++i) {
      run_item(kernel, problems[items[i].problem], items[i], accumulate, a_packed, b_packed);
    }
  });
}

void gemm(float* c, int64_t ldc, int64_t rows, int64_t columns, const GemmSegment* segments, int segment_count,
          bool accumulate) {
  const GemmProblem problem{c, ldc, rows, columns, segments, segment_count};
  gemm_batched(&problem, 1, accumulate);
}

}  // namespace pillow
