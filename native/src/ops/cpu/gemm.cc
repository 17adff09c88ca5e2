#include "ops/cpu/gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "ops/common/bf16.h"
#include "ops/cpu/kernel_table.h"
#include "runtime/errors.h"
#include "runtime/thread_pool.h"

namespace pillow {

namespace {

// Block sizes (BLIS terms): an mc x kc block of A and a kc x chunk block of B stay in L2 while
// the micro-kernel streams their MR- and NR-wide panels; a chunk of columns is one unit of parallel
// work. Measured on a Zen 3 core (32 KiB L1, 512 KiB L2), 512x2048x2048: long K blocks win
// (kc = 1024 ran ~3 % faster than kc = 384, even though a kc x NR panel then exceeds L1: Zen's
// L2 feeds the two loads per cycle the kernel needs, and C is re-read half as often), with the
// row block and column chunk shrunk so that both blocks still fit in L2.
constexpr int64_t kBlockK = 1024;
constexpr int64_t kBlockRowsTiles = 8;      // mc = 8 * MR
constexpr int64_t kChunkColumnTiles = 4;    // chunk = 4 * NR columns

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

void pack_panel(float* dst, const GemmOperand& op, int64_t row0, int rows, int64_t k0, int64_t kc, int width) {
  if (op.type == WeightType::BF16) {
    pack_panel_typed(dst, static_cast<const uint16_t*>(op.data), op, row0, rows, k0, kc, width);
  } else {
    pack_panel_typed(dst, static_cast<const float*>(op.data), op, row0, rows, k0, kc, width);
  }
}

}  // namespace

namespace {

// The K dimension of a problem is the concatenation of its segments, cut into blocks of about
// kBlockK (evenly, so a short LoRA segment never becomes a pass of its own over C).
struct KBlocks {
  int64_t total;
  int64_t count;
  int64_t begin(int64_t i) const { return total * i / count; }
  int64_t end(int64_t i) const { return total * (i + 1) / count; }
};

KBlocks k_blocks(const GemmProblem& problem) {
  int64_t total = 0;
  for (int s = 0; s < problem.segment_count; ++s) total += problem.segments[s].k_length;
  // Rounded down, so a block holds kBlockK to 2·kBlockK steps: K = 2048 + a rank-16 LoRA segment
  // is two blocks of 1032, not three of 688 (one more pass over C and shorter micro-kernel runs
  // cost ~5 % of the fused LoRA forward).
  return KBlocks{total, std::max<int64_t>(1, total / kBlockK)};
}

// Calls part(segment, segment_k0, length, offset) for each part of the segments in logical [k0, k0 + kc).
template <typename Part>
void for_each_part(const GemmProblem& problem, int64_t k0, int64_t kc, Part part) {
  int64_t segment_start = 0;
  for (int s = 0; s < problem.segment_count; ++s) {
    const int64_t length = problem.segments[s].k_length;
    const int64_t lo = std::max(k0, segment_start), hi = std::min(k0 + kc, segment_start + length);
    if (lo < hi) part(problem.segments[s], lo - segment_start, hi - lo, lo - k0);
    segment_start += length;
  }
}

// One unit of parallel work: a column chunk x row range of one problem.
struct WorkItem {
  int64_t problem;
  int64_t n0, n1, m0, m1;
};

// A's rows [m0, m1) of one problem packed by the thread that uses them, all K at once: for each
// logical k block (k0, kc), the row panels follow each other, kc x MR floats each.
struct PackedRows {
  int64_t problem = -1;
  int64_t m0 = 0, m1 = 0;
  int64_t rows_padded = 0;
  const float* data = nullptr;
  const float* panel(int64_t k0, int64_t kc, int64_t m) const { return data + k0 * rows_padded + (m - m0) * kc; }
};

void pack_b_block(const KernelTable& kernel, float* dst, const GemmOperand& b, int64_t n, int cols, int64_t k0,
                  int64_t kc) {
  const int nr = kernel.gemm_columns;
  if (cols == nr && b.k_stride == 1) {
    const void* src = b.type == WeightType::BF16
                          ? static_cast<const void*>(static_cast<const uint16_t*>(b.data) + n * b.row_stride + k0)
                          : static_cast<const void*>(static_cast<const float*>(b.data) + n * b.row_stride + k0);
    if (kernel.gemm_pack_b(dst, src, b.type == WeightType::BF16 ? 1 : 0, b.row_stride, kc)) return;
  }
  pack_panel(dst, b, n, cols, k0, kc, nr);
}

// B panels for columns [n0, n1), panel i at dst + i·panel_stride. An operand read down its columns
// (row_stride 1: W in dy·W) is packed for all full panels in one pass over its rows.
void pack_b_chunk(const KernelTable& kernel, float* dst, int64_t panel_stride, const GemmOperand& b, int64_t n0,
                  int64_t n1, int64_t k0, int64_t kc) {
  const int nr = kernel.gemm_columns;
  int64_t n = n0;
  const int full_panels = static_cast<int>((n1 - n0) / nr);
  if (b.row_stride == 1 && b.k_stride != 1 && full_panels > 0) {
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

// Floats between consecutive panels of a prepacked B operand (GemmOperand::prepacked).
int64_t prepacked_panel_stride(const GemmOperand& b, int64_t k_length, int nr) {
  return b.panel_stride > 0 ? b.panel_stride : k_length * nr;
}

void pack_a_block(const KernelTable& kernel, float* dst, const GemmOperand& a, int64_t m, int rows, int64_t k0,
                  int64_t kc) {
  const int mr = kernel.gemm_rows;
  if (rows == mr && a.k_stride == 1) {
    const void* src = a.type == WeightType::BF16
                          ? static_cast<const void*>(static_cast<const uint16_t*>(a.data) + m * a.row_stride + k0)
                          : static_cast<const void*>(static_cast<const float*>(a.data) + m * a.row_stride + k0);
    if (kernel.gemm_pack_a(dst, src, a.type == WeightType::BF16 ? 1 : 0, a.row_stride, kc)) return;
  }
  pack_panel(dst, a, m, rows, k0, kc, mr);
}

void run_item(const KernelTable& kernel, const GemmProblem& problem, const PackedRows& a, const WorkItem& item,
              bool accumulate, float* b_packed) {
  const int mr = kernel.gemm_rows;
  const int nr = kernel.gemm_columns;
  const int64_t block_rows = kBlockRowsTiles * mr;
  float* c = problem.c;
  const int64_t ldc = problem.ldc;
  const KBlocks blocks = k_blocks(problem);
  if (blocks.total == 0) {  // no K at all: the product is zero
    if (!accumulate) {
      for (int64_t m = item.m0; m < item.m1; ++m) std::fill(c + m * ldc + item.n0, c + m * ldc + item.n1, 0.0f);
    }
    return;
  }
  for (int64_t block = 0; block < blocks.count; ++block) {
    const int64_t k0 = blocks.begin(block);
    const int64_t kc = blocks.end(block) - k0;
    const bool accumulate_block = accumulate || block > 0;
    // A block whose parts are all prepacked and adjacent in memory reads its panels in place.
    // Otherwise prepacked parts are copied (contiguous runs) and the others packed into b_packed,
    // and the block runs as one micro-kernel pass either way: the same sums in the same order as
    // without prepacking, so a model gives bit-identical results whether its weights are prepacked.
    const float* in_place = nullptr;
    int64_t in_place_stride = 0;
    bool contiguous = true;
    const float* next = nullptr;  // where the next part must start to continue the run
    for_each_part(problem, k0, kc, [&](const GemmSegment& segment, int64_t segment_k0, int64_t length, int64_t) {
      const int64_t stride = prepacked_panel_stride(segment.b, segment.k_length, nr);
      const float* start = segment.b.prepacked ? segment.b.prepacked + segment_k0 * nr : nullptr;
      if (start == nullptr || (in_place != nullptr && (start != next || stride != in_place_stride))) contiguous = false;
      if (in_place == nullptr && start != nullptr) {
        in_place = start;
        in_place_stride = stride;
      }
      next = start ? start + length * nr : nullptr;
    });
    if (!contiguous) in_place = nullptr;
    if (in_place == nullptr) {
      for_each_part(problem, k0, kc, [&](const GemmSegment& segment, int64_t segment_k0, int64_t length, int64_t offset) {
        if (segment.b.prepacked == nullptr) {
          pack_b_chunk(kernel, b_packed + offset * nr, nr * kc, segment.b, item.n0, item.n1, segment_k0, length);
          return;
        }
        const int64_t stride = prepacked_panel_stride(segment.b, segment.k_length, nr);
        for (int64_t n = item.n0; n < item.n1; n += nr) {
          std::memcpy(b_packed + (n - item.n0) * kc + offset * nr, segment.b.prepacked + (n / nr) * stride + segment_k0 * nr,
                      sizeof(float) * static_cast<size_t>(length * nr));
        }
      });
    }
    auto b_panel_of = [&](int64_t n) {
      return in_place ? in_place + (n / nr) * in_place_stride : b_packed + (n - item.n0) * kc;
    };
    for (int64_t mb = item.m0; mb < item.m1; mb += block_rows) {
      const int64_t mb_end = std::min(item.m1, mb + block_rows);
      for (int64_t n = item.n0; n < item.n1; n += nr) {
        const int cols = static_cast<int>(std::min<int64_t>(nr, item.n1 - n));
        const float* b_panel = b_panel_of(n);
        for (int64_t m = mb; m < mb_end; m += mr) {
          const int tile_rows = static_cast<int>(std::min<int64_t>(mr, mb_end - m));
          kernel.gemm_micro(c + m * ldc + n, ldc, a.panel(k0, kc, m), b_panel, kc, tile_rows, cols, accumulate_block);
        }
      }
    }
  }
}

// Packs rows [m_begin, m_end) of A, part of the row range that starts at range_m0, for every
// logical k block into `buffer` (the range's layout: see PackedRows). Derived segments are left
// for fill_derived_rows.
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

bool has_derived(const GemmProblem& problem) {
  for (int s = 0; s < problem.segment_count; ++s)
    if (problem.segments[s].derived != nullptr) return true;
  return false;
}

int64_t segment_start(const GemmProblem& problem, int segment) {
  int64_t start = 0;
  for (int s = 0; s < segment; ++s) start += problem.segments[s].k_length;
  return start;
}

// D of every derived segment of `problem`, packed as B panels over its source's whole k, one
// segment after another, followed by room for one [MR, rank] tile. Packed once per thread and call.
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

// A row range of one problem whose packed rows all threads share: each MR-row panel is packed
// (and its derived columns filled) by whichever thread claims it first, so two threads split the
// packing of A instead of each packing all of it (that duplicate was ~3 % of a 2-thread GEMM).
struct SharedRows {
  int64_t problem, m0, m1, rows_padded;
  float* data;
  std::atomic<uint8_t>* states;  // per panel: 0 unpacked, 1 being packed, 2 ready
};

}  // namespace

void gemm_batched(const GemmProblem* problems, int64_t problem_count, bool accumulate) {
  const KernelTable& kernel = kernels();
  const int mr = kernel.gemm_rows;
  const int nr = kernel.gemm_columns;
  const int64_t block_rows = kBlockRowsTiles * mr;
  const int64_t chunk_columns = kChunkColumnTiles * nr;
  const int64_t threads = thread_count();
  // A row range holds at most 16 MiB of packed A.
  const int64_t budget = int64_t{1} << 22;

  // Work: column chunks, each streaming its slice of B once; when a problem has too few chunks to
  // feed every thread, its rows are split as well (B's slice is then packed once per split).
  // Items are ordered row range first, so a thread's contiguous share reuses its packed rows.
  std::vector<WorkItem> items;
  std::vector<int64_t> item_range;  // index into `ranges`
  std::vector<SharedRows> ranges;
  int64_t packed_floats = 0;
  double flops = 0;
  for (int64_t p = 0; p < problem_count; ++p) {
    const GemmProblem& problem = problems[p];
    if (problem.rows <= 0 || problem.columns <= 0) continue;
    const int64_t total_k = k_blocks(problem).total;
    flops += 2.0 * problem.rows * problem.columns * static_cast<double>(std::max<int64_t>(total_k, 1));
    const int64_t column_chunks = (problem.columns + chunk_columns - 1) / chunk_columns;
    const int64_t row_blocks = (problem.rows + block_rows - 1) / block_rows;
    const int64_t max_blocks_per_range = std::max<int64_t>(1, budget / std::max<int64_t>(total_k, 1) / block_rows);
    const int64_t row_splits = std::max(
        (row_blocks + max_blocks_per_range - 1) / max_blocks_per_range,
        std::min(row_blocks, std::max<int64_t>(1, (2 * threads + column_chunks - 1) / column_chunks)));
    for (int64_t split = 0; split < row_splits; ++split) {
      SharedRows range{p, std::min(problem.rows, (row_blocks * split / row_splits) * block_rows),
                       std::min(problem.rows, (row_blocks * (split + 1) / row_splits) * block_rows), 0, nullptr, nullptr};
      if (range.m0 >= range.m1) continue;
      range.rows_padded = (range.m1 - range.m0 + mr - 1) / mr * mr;
      packed_floats += std::max<int64_t>(1, range.rows_padded * total_k);
      ranges.push_back(range);
      for (int64_t chunk = 0; chunk < column_chunks; ++chunk) {
        WorkItem item;
        item.problem = p;
        item.n0 = chunk * chunk_columns;
        item.n1 = std::min(problem.columns, item.n0 + chunk_columns);
        item.m0 = range.m0;
        item.m1 = range.m1;
        items.push_back(item);
        item_range.push_back(static_cast<int64_t>(ranges.size()) - 1);
      }
    }
  }
  if (items.empty()) return;

  // Packed rows are shared by all threads when they take no more memory than the threads' own
  // scratches would (the buffer belongs to the calling thread, so concurrent calls from different
  // threads never share one); larger products fall back to each thread packing the row range it
  // works on itself.
  const bool shared = packed_floats <= budget * std::max<int64_t>(threads, 1);
  std::unique_ptr<std::atomic<uint8_t>[]> states;
  if (shared) {
    static thread_local Scratch shared_scratch;
    float* buffer = shared_scratch.get(static_cast<size_t>(packed_floats));
    int64_t panels = 0;
    for (const SharedRows& range : ranges) panels += range.rows_padded / mr;
    states.reset(new std::atomic<uint8_t>[static_cast<size_t>(std::max<int64_t>(1, panels))]);
    for (int64_t i = 0; i < panels; ++i) states[i].store(0, std::memory_order_relaxed);
    int64_t offset = 0, state = 0;
    for (SharedRows& range : ranges) {
      range.data = buffer + offset;
      range.states = states.get() + state;
      offset += std::max<int64_t>(1, range.rows_padded * k_blocks(problems[range.problem]).total);
      state += range.rows_padded / mr;
    }
  }

  // The last few items are cut by rows as well, so the job ends on short items: with 64-column
  // chunks of a 512-row product an item is ~1/32 of the work, and a thread finishing its last one
  // alone cost up to that much wall time. The pieces read the range's shared packed rows.
  if (shared && threads > 1) {
    const int64_t last_range = item_range.back();
    int64_t tail = 0;
    while (tail < threads && tail < static_cast<int64_t>(items.size()) &&
           item_range[items.size() - 1 - static_cast<size_t>(tail)] == last_range)
      ++tail;
    const SharedRows& range = ranges[last_range];
    const int64_t panels = range.rows_padded / mr;
    if (panels >= 2 * threads) {
      std::vector<WorkItem> pieces;
      for (int64_t t = 0; t < tail; ++t) {
        const WorkItem whole = items[items.size() - static_cast<size_t>(tail - t)];
        for (int64_t part = 0; part < threads; ++part) {
          WorkItem piece = whole;
          piece.m0 = range.m0 + panels * part / threads * mr;
          piece.m1 = std::min(range.m1, range.m0 + panels * (part + 1) / threads * mr);
          pieces.push_back(piece);
        }
      }
      items.resize(items.size() - static_cast<size_t>(tail));
      item_range.resize(items.size());
      for (const WorkItem& piece : pieces) {
        items.push_back(piece);
        item_range.push_back(last_range);
      }
    }
  }
  const int64_t count = static_cast<int64_t>(items.size());

  // Items are taken one at a time from a shared counter (a loaded machine deschedules threads;
  // static halves would wait for the slowest). Small products are not worth waking the pool
  // for (~10 µs); 4 MFLOP take ~60 µs on one core.
  // Each call gets a fresh id, so a thread's packed rows are never mistaken for another call's.
  static std::atomic<uint64_t> call_counter{0};
  const uint64_t call_id = call_counter.fetch_add(1) + 1;
  parallel_for_dynamic(count, 1, flops >= 4e6 ? 2 : count + 1, [&](int64_t begin, int64_t end) {
    static thread_local Scratch a_scratch, b_scratch, derived_scratch;
    static thread_local PackedRows packed;
    static thread_local uint64_t packed_call = 0;  // the call `packed` belongs to
    static thread_local uint64_t downs_call = 0;   // the call and problem `downs` belong to
    static thread_local int64_t downs_problem = -1;
    static thread_local const float* downs = nullptr;
    if (packed_call != call_id) {
      packed = PackedRows{};
      packed_call = call_id;
    }
    auto downs_for = [&](int64_t p) {
      if (downs_call != call_id || downs_problem != p) {
        downs = pack_derived_downs(kernel, problems[p], derived_scratch);
        downs_call = call_id;
        downs_problem = p;
      }
      return downs;
    };
    float* b_packed = b_scratch.get(static_cast<size_t>(2 * kBlockK * chunk_columns));
    for (int64_t i = begin; i < end; ++i) {
      const WorkItem& item = items[i];
      const GemmProblem& problem = problems[item.problem];
      const bool derived = has_derived(problem);
      if (shared) {
        const SharedRows& range = ranges[item_range[i]];
        const int64_t panels = range.rows_padded / mr;
        // Anything that can throw (the scratch allocation) happens before a panel is claimed: a
        // claimed panel never left unpacked is what keeps the other threads' waits finite.
        const float* item_downs = derived ? downs_for(item.problem) : nullptr;
        for (int64_t panel = 0; panel < panels; ++panel) {
          if (range.states[panel].load(std::memory_order_relaxed) != 0) continue;
          uint8_t expected = 0;
          if (!range.states[panel].compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) continue;
          const int64_t m_begin = range.m0 + panel * mr, m_end = std::min(range.m1, m_begin + mr);
          pack_rows(kernel, problem, range.m0, m_begin, m_end, range.data, range.rows_padded);
          if (derived) fill_derived_rows(kernel, problem, range.m0, m_begin, m_end, range.data, range.rows_padded, item_downs);
          range.states[panel].store(2, std::memory_order_release);
        }
        for (int64_t panel = 0; panel < panels; ++panel) {
          while (range.states[panel].load(std::memory_order_acquire) != 2) std::this_thread::yield();
        }
        packed = PackedRows{item.problem, range.m0, range.m1, range.rows_padded, range.data};
      } else if (packed.problem != item.problem || packed.m0 != item.m0 || packed.m1 != item.m1) {
        packed.problem = item.problem;
        packed.m0 = item.m0;
        packed.m1 = item.m1;
        packed.rows_padded = (item.m1 - item.m0 + mr - 1) / mr * mr;
        float* buffer =
            a_scratch.get(static_cast<size_t>(std::max<int64_t>(1, packed.rows_padded * k_blocks(problem).total)));
        pack_rows(kernel, problem, item.m0, item.m0, item.m1, buffer, packed.rows_padded);
        if (derived)
          fill_derived_rows(kernel, problem, item.m0, item.m0, item.m1, buffer, packed.rows_padded, downs_for(item.problem));
        packed.data = buffer;
      }
      run_item(kernel, problem, packed, item, accumulate, b_packed);
    }
  });
}

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

void gemm_on_this_thread(float* c, int64_t ldc, int64_t rows, int64_t columns, const GemmOperand& a,
                         const GemmOperand& b, int64_t k_length, bool accumulate) {
  if (rows <= 0 || columns <= 0) return;
  if (k_length <= 0) {
    if (!accumulate) {
      for (int64_t m = 0; m < rows; ++m) std::fill(c + m * ldc, c + m * ldc + columns, 0.0f);
    }
    return;
  }
  const KernelTable& kernel = kernels();
  const int mr = kernel.gemm_rows;
  const int nr = kernel.gemm_columns;
  const int64_t rows_padded = (rows + mr - 1) / mr * mr;
  const int64_t columns_padded = (columns + nr - 1) / nr * nr;
  const int64_t blocks = std::max<int64_t>(1, k_length / kBlockK);
  const int64_t longest_block = k_length - k_length * (blocks - 1) / blocks;
  static thread_local Scratch a_scratch, b_scratch;
  float* a_packed = a_scratch.get(static_cast<size_t>(rows_padded * longest_block));
  float* b_packed = b_scratch.get(static_cast<size_t>(columns_padded * longest_block));
  for (int64_t block = 0; block < blocks; ++block) {
    const int64_t k0 = k_length * block / blocks, kc = k_length * (block + 1) / blocks - k0;
    for (int64_t m = 0; m < rows; m += mr) {
      pack_a_block(kernel, a_packed + m * kc, a, m, static_cast<int>(std::min<int64_t>(mr, rows - m)), k0, kc);
    }
    pack_b_chunk(kernel, b_packed, nr * kc, b, 0, columns, k0, kc);
    // B panels outside, so one kc x NR panel stays in L1 while the A panels stream past it.
    for (int64_t n = 0; n < columns; n += nr) {
      const int cols = static_cast<int>(std::min<int64_t>(nr, columns - n));
      for (int64_t m = 0; m < rows; m += mr) {
        kernel.gemm_micro(c + m * ldc + n, ldc, a_packed + m * kc, b_packed + n * kc, kc,
                          static_cast<int>(std::min<int64_t>(mr, rows - m)), cols, accumulate || block > 0);
      }
    }
  }
}

void gemm(float* c, int64_t ldc, int64_t rows, int64_t columns, const GemmSegment* segments, int segment_count,
          bool accumulate) {
  const GemmProblem problem{c, ldc, rows, columns, segments, segment_count};
  gemm_batched(&problem, 1, accumulate);
}

}  // namespace pillow
