// What the GEMM's pieces share (gemm.cc schedules, gemm_packing.cc packs, gemm_fused_lora.cc
// derives the LoRA operand): the block sizes, the per-thread scratch, the K blocking over a
// problem's segments and the layout of a range of packed A rows. Internal to the CPU GEMM.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "ops/cpu/gemm.h"

namespace pillow::gemm_internal {

// Block sizes (BLIS terms): an mc x kc block of A and a kc x chunk block of B stay in L2 while
// the micro-kernel streams their MR- and NR-wide panels; a chunk of columns is one unit of parallel
// work. Measured on a Zen 3 core (32 KiB L1, 512 KiB L2), 512x2048x2048: long K blocks win
// (kc = 1024 ran ~3 % faster than kc = 384, even though a kc x NR panel then exceeds L1: Zen's
// L2 feeds the two loads per cycle the kernel needs, and C is re-read half as often), with the
// row block and column chunk shrunk so that both blocks still fit in L2.
inline constexpr int64_t kBlockK = 1024;
inline constexpr int64_t kBlockRowsTiles = 8;      // mc = 8 * MR
inline constexpr int64_t kChunkColumnTiles = 4;    // chunk = 4 * NR columns

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

// The K dimension of a problem is the concatenation of its segments, cut into blocks of about
// kBlockK (evenly, so a short LoRA segment never becomes a pass of its own over C).
struct KBlocks {
  int64_t total;
  int64_t count;
  int64_t begin(int64_t i) const { return total * i / count; }
  int64_t end(int64_t i) const { return total * (i + 1) / count; }
};

inline KBlocks k_blocks(const GemmProblem& problem) {
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

// A's rows [m0, m1) of one problem packed by the thread that uses them, all K at once: for each
// logical k block (k0, kc), the row panels follow each other, kc x MR floats each.
struct PackedRows {
  int64_t problem = -1;
  int64_t m0 = 0, m1 = 0;
  int64_t rows_padded = 0;
  const float* data = nullptr;
  const float* panel(int64_t k0, int64_t kc, int64_t m) const { return data + k0 * rows_padded + (m - m0) * kc; }
};

}  // namespace pillow::gemm_internal
