#include "ops/cpu/gemm_bf16.h"

#include <algorithm>
#include <string>
#include <vector>

#include "ops/cpu/kernel_table.h"
#include "runtime/errors.h"
#include "runtime/thread_pool.h"

namespace pillow {

namespace {

// Block sizes, in k pairs and tiles. K runs in blocks of 1024 to 2047 pairs (2048 k and more): on
// AMX every K block costs a load and a store of the C tiles (4 KiB each way per 32 x 32 tile),
// and at 256-pair blocks those were ~20 % of a 512x2048x2048 product (thread CPU time 11.8 ms
// against 9.9 ms at 1024, AVX-512 host of packages/lora-kernels/README.md). A row block of
// kRowBlockPanels A panels (128 rows on AMX, 512 KiB at 1024 pairs) and one column chunk of
// kChunkPanels B panels (512 KiB) share L2; a chunk is one unit of parallel work, packed once by
// the thread that takes it.
constexpr int64_t kBlockPairs = 1024;
constexpr int64_t kRowBlockPanels = 4;
constexpr int64_t kChunkPanels = 4;  // 4·NR = 128 columns of C per work item
// Packed A holds at most this many words (64 MiB) per row range; taller products run range by range.
constexpr int64_t kPackedRowsBudget = int64_t{1} << 24;

// K split into blocks of kBlockPairs to 2·kBlockPairs pairs (rounded down, as the f32 GEMM does),
// each a whole number of the kernel's granules (AMX: 16 pairs; the last block zero-padded).
struct PairBlocks {
  int64_t granules;
  int64_t granularity;
  int64_t count;
  int64_t begin(int64_t i) const { return granules * i / count * granularity; }
  int64_t end(int64_t i) const { return granules * (i + 1) / count * granularity; }
  int64_t pairs() const { return granules * granularity; }
};

// The kernel's per-thread state (AMX tiles) set for one parallel task and put back after it, also
// when the task ends by an exception.
class KernelThreadState {
 public:
  explicit KernelThreadState(const Bf16DotKernels& kernel) : kernel_(kernel) {
    if (kernel_.begin != nullptr) kernel_.begin(saved_);
  }
  ~KernelThreadState() {
    if (kernel_.end != nullptr) kernel_.end(saved_);
  }
  KernelThreadState(const KernelThreadState&) = delete;
  KernelThreadState& operator=(const KernelThreadState&) = delete;

 private:
  const Bf16DotKernels& kernel_;
  alignas(64) uint8_t saved_[64] = {};
};

}  // namespace

bool gemm_bf16_dot_available() { return bf16_dot_kernels() != nullptr; }

const char* gemm_bf16_dot_kernel_name() {
  const Bf16DotKernels* kernel = bf16_dot_kernels();
  return kernel != nullptr ? kernel->name : nullptr;
}

void gemm_bf16_dot(float* c, int64_t ldc, int64_t rows, int64_t columns, const float* x, int64_t x_row_stride,
                   const uint16_t* w, int64_t w_row_stride, int64_t depth, bool accumulate) {
  const Bf16DotKernels* kernel = bf16_dot_kernels();
  if (kernel == nullptr) throw_argument_error("gemm_bf16_dot: no BF16 dot-product kernels here (AMX or a fast AVX512-BF16; see gemm_bf16_dot_available)");
  if (c == nullptr || x == nullptr || w == nullptr) throw_argument_error("gemm_bf16_dot: c, x and w must not be null");
  if (rows < 1 || columns < 1 || depth < 1 || ldc < columns || x_row_stride < depth || w_row_stride < depth) {
    throw_argument_error("gemm_bf16_dot: rows, columns and depth must be >= 1 and the strides >= the rows' lengths (rows " +
                         std::to_string(rows) + ", columns " + std::to_string(columns) + ", depth " + std::to_string(depth) + ")");
  }
  const int mr = kernel->rows, nr = kernel->columns;
  const int64_t granularity = kernel->pair_granularity;
  const int64_t granules = ((depth + 1) / 2 + granularity - 1) / granularity;
  const PairBlocks blocks{granules, granularity, std::max<int64_t>(1, granules * granularity / kBlockPairs)};
  const int64_t range_rows = std::max<int64_t>(mr, kPackedRowsBudget / blocks.pairs() / mr * mr);
  const int64_t chunk_columns = kChunkPanels * nr;
  const int64_t chunks = (columns + chunk_columns - 1) / chunk_columns;
  static thread_local std::vector<uint32_t> a_packed;  // the calling thread's; workers only read it
  for (int64_t range_m0 = 0; range_m0 < rows; range_m0 += range_rows) {
    const int64_t range_m1 = std::min(rows, range_m0 + range_rows);
    const int64_t panels = (range_m1 - range_m0 + mr - 1) / mr;
    const int64_t rows_padded = panels * mr;
    a_packed.resize(static_cast<size_t>(rows_padded * blocks.pairs()));
    // A thread_local names the running thread's own copy: the workers get the caller's by pointer.
    uint32_t* a_data = a_packed.data();
    // A, for every K block: its row panels one after another, pairs x MR words each (block q0
    // starts at q0·rows_padded). Packed once, by all threads, before any tile runs.
    parallel_for(panels, 4, [&](int64_t begin, int64_t end) {
      for (int64_t panel = begin; panel < end; ++panel) {
        const int64_t m = range_m0 + panel * mr;
        const int panel_rows = static_cast<int>(std::min<int64_t>(mr, range_m1 - m));
        for (int64_t block = 0; block < blocks.count; ++block) {
          const int64_t q0 = blocks.begin(block), pairs = blocks.end(block) - q0;
          const int64_t k_valid = std::max<int64_t>(0, std::min(depth - 2 * q0, 2 * pairs));
          kernel->pack_a(a_data + q0 * rows_padded + panel * mr * pairs, x + m * x_row_stride + 2 * q0, x_row_stride,
                         panel_rows, k_valid, pairs);
        }
      }
    });
    parallel_for_dynamic(chunks, 1, 2, [&](int64_t begin, int64_t end) {
      const KernelThreadState thread_state(*kernel);
      static thread_local std::vector<uint32_t> b_packed;
      b_packed.resize(static_cast<size_t>(kChunkPanels * nr * (2 * kBlockPairs + granularity)));
      for (int64_t chunk = begin; chunk < end; ++chunk) {
        const int64_t n0 = chunk * chunk_columns, n1 = std::min(columns, n0 + chunk_columns);
        for (int64_t block = 0; block < blocks.count; ++block) {
          const int64_t q0 = blocks.begin(block), pairs = blocks.end(block) - q0;
          const int64_t k_valid = std::max<int64_t>(0, std::min(depth - 2 * q0, 2 * pairs));
          for (int64_t n = n0; n < n1; n += nr) {
            kernel->pack_b(b_packed.data() + (n - n0) / nr * pairs * nr, w + n * w_row_stride + 2 * q0, w_row_stride,
                           static_cast<int>(std::min<int64_t>(nr, n1 - n)), k_valid, pairs);
          }
          const bool accumulate_block = accumulate || block > 0;
          const uint32_t* a_block = a_data + q0 * rows_padded;
          for (int64_t mb = 0; mb < panels; mb += kRowBlockPanels) {
            const int64_t mb_end = std::min(panels, mb + kRowBlockPanels);
            for (int64_t n = n0; n < n1; n += nr) {
              const int cols = static_cast<int>(std::min<int64_t>(nr, n1 - n));
              const uint32_t* b_panel = b_packed.data() + (n - n0) / nr * pairs * nr;
              for (int64_t panel = mb; panel < mb_end; ++panel) {
                const int64_t m = range_m0 + panel * mr;
                kernel->micro(c + m * ldc + n, ldc, a_block + panel * mr * pairs, b_panel, pairs,
                              static_cast<int>(std::min<int64_t>(mr, range_m1 - m)), cols, accumulate_block);
              }
            }
          }
        }
      }
    });
  }
}

}  // namespace pillow
