#include "ops/cpu/gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "ops/common/bf16.h"
#include "ops/cpu/gemm_blocking.h"
#include "ops/cpu/gemm_fused_lora.h"
#include "ops/cpu/gemm_packing.h"
#include "ops/cpu/kernel_table.h"
#include "runtime/errors.h"
#include "runtime/thread_pool.h"

namespace pillow {

using namespace gemm_internal;

namespace {

// One unit of parallel work: a column chunk x row range of one problem.
struct WorkItem {
  int64_t problem;
  int64_t n0, n1, m0, m1;
};

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
