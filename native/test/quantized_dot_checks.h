// Checks shared by the tests of the quantized dot products (quantized_matvec_test.cc for Q8_0,
// q4_0_matvec_test.cc, q4_k_matvec_test.cc). The three weight types' kernels have one signature
// (Q8_0DotRows) and one contract: every SIMD variant gives the portable loop's bits, and the decode
// GEMV rows and the public op give the chosen kernel's; and Q8_0 and Q4_0 share a block layout (an
// f16 scale, then 32 codes), so one float64 check of their portable loops. So each test file
// describes its format once (QuantizedDotFormat) and its TESTs call these; what is particular to a
// format (hand-built blocks, Q4_K's float64 sums, x's rounding, its shape checks) stays in its file.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <random>
#include <vector>

#include "ops/cpu/kernel_table.h"
#include "runtime/cpu_features.h"
#include "test_harness.h"

namespace pillow_test {

// Normal and subnormal f16 bits → value, by the format's definition (independent of the library).
inline double f16_value(uint16_t bits) {
  const int exponent = (bits >> 10) & 0x1f;
  const double magnitude = exponent == 0 ? (bits & 0x3ff) * std::ldexp(1.0, -24)
                                         : (1.0 + (bits & 0x3ff) / 1024.0) * std::ldexp(1.0, exponent - 15);
  return bits & 0x8000 ? -magnitude : magnitude;
}

// A weight type's blocks and the functions that multiply them.
struct QuantizedDotFormat {
  int64_t values_per_block;  // 32 (Q8_0, Q4_0) or 256 (Q4_K super-blocks)
  int64_t bytes_per_block;   // 34, 18 or 144
  // The kernel table's entry, e.g. &KernelTable::q4_k_dot_rows (portable, avx2, avx512 tables).
  pillow::Q8_0DotRows pillow::KernelTable::*dot_rows;
  pillow::Q8_0DotRows (*chosen_dot)();  // the one the library picked for this CPU, e.g. q4_k_dot_kernel
  pillow::Q8_0DotRows (*vnni_dot)();    // avx512_vnni's, nullptr where built without it
  // x's rounding for these weights: q8_0_quantize_rows, or q8_k_quantize_rows for Q4_K.
  void (*quantize_x)(int8_t* codes, float* scales, const float* x, int64_t tokens, int64_t columns);
  // The decode GEMV rows over this weight, e.g. q4_k_gemv_rows.
  void (*gemv_rows)(float* y, int64_t ldy, const int8_t* x_codes, const float* x_scales, const uint8_t* w,
                    int64_t columns, int64_t row_begin, int64_t row_end, int tokens, bool accumulate);
  // The public op, e.g. quantized_matvec_q4_k.
  void (*matvec)(float* out, const float* x, const uint8_t* w, int64_t rows, int64_t columns);
  // A random [rows, values_per_block·blocks] weight in this format, from a seed.
  std::vector<uint8_t> (*random_weight)(int64_t rows, int64_t blocks, uint32_t seed);
};

struct DotVariant {
  const char* name;
  pillow::Q8_0DotRows dot;
};

// The SIMD variants this CPU runs (the portable loop is the reference they are compared with).
inline std::vector<DotVariant> simd_variants(const QuantizedDotFormat& format) {
  using namespace pillow;
  const CpuFeatures& f = cpu_features();
  std::vector<DotVariant> variants;
  if (f.avx2 && f.fma && f.f16c) variants.push_back({"avx2", avx2::kernel_table().*format.dot_rows});
  if (selected_isa() == CpuIsa::Avx512) variants.push_back({"avx512", avx512::kernel_table().*format.dot_rows});
  if (selected_isa() == CpuIsa::Avx512 && f.avx512vnni && format.vnni_dot() != nullptr) {
    variants.push_back({"avx512_vnni", format.vnni_dot()});
  }
  return variants;
}

// Every SIMD variant against the portable loop, bit for bit, on random weights of each block count
// × row count, one row per call and four, x rounded as the format rounds it; prints the variants
// and the chosen one.
inline void check_simd_dot_products_equal_the_portable_loop(const QuantizedDotFormat& format,
                                                            std::initializer_list<int64_t> block_counts,
                                                            std::initializer_list<int64_t> row_counts) {
  const pillow::Q8_0DotRows portable_dot = pillow::portable::kernel_table().*format.dot_rows;
  const std::vector<DotVariant> variants = simd_variants(format);
  std::printf("     (variants on this CPU:");
  for (const DotVariant& v : variants) std::printf(" %s", v.name);
  std::printf("; chosen: %s)\n", format.chosen_dot() == portable_dot       ? "portable"
                                  : format.chosen_dot() == format.vnni_dot() ? "avx512_vnni"
                                                                             : "avx2/avx512");
  const int64_t values = format.values_per_block, bytes = format.bytes_per_block;
  std::mt19937 random(3);
  int compared = 0;
  for (int64_t blocks : block_counts) {
    for (int64_t rows : row_counts) {
      const std::vector<uint8_t> w = format.random_weight(rows, blocks, static_cast<uint32_t>(blocks * 100 + rows));
      std::vector<float> x(static_cast<size_t>(values * blocks));
      std::uniform_real_distribution<float> uniform(-3.0f, 3.0f);
      for (float& value : x) value = uniform(random);
      std::vector<int8_t> codes(x.size());
      std::vector<float> scales(static_cast<size_t>(blocks));
      format.quantize_x(codes.data(), scales.data(), x.data(), 1, values * blocks);
      std::vector<float> expected(static_cast<size_t>(rows)), actual(expected.size());
      for (int64_t r = 0; r < rows; r += 4) {
        const int count = static_cast<int>(std::min<int64_t>(4, rows - r));
        portable_dot(expected.data() + r, w.data() + r * blocks * bytes, blocks * bytes, codes.data(), scales.data(),
                     blocks, count);
      }
      for (const DotVariant& variant : variants) {
        for (int tile : {1, 4}) {  // one row per call, and four
          std::fill(actual.begin(), actual.end(), -7.0f);
          for (int64_t r = 0; r < rows; r += tile) {
            const int count = static_cast<int>(std::min<int64_t>(tile, rows - r));
            variant.dot(actual.data() + r, w.data() + r * blocks * bytes, blocks * bytes, codes.data(), scales.data(),
                        blocks, count);
          }
          ++compared;
          if (std::memcmp(actual.data(), expected.data(), actual.size() * sizeof(float)) != 0) {
            std::fprintf(stderr, "  %s differs (rows %lld, columns %lld, tile %d)\n", variant.name,
                         static_cast<long long>(rows), static_cast<long long>(values * blocks), tile);
            CHECK(false);
          }
        }
      }
    }
  }
  CHECK(compared == static_cast<int>(variants.size() * block_counts.size() * row_counts.size()) * 2);
}

// For a format of 32-value blocks whose first two bytes are the f16 scale d_w (Q8_0, Q4_0): the
// portable dot product of 5 random rows of each block count against float64 sums of the decoded
// codes (code_of(block, j), value j's signed code) times d_w·d_x, x's codes over [-127, 127] and
// its scales random normal f16 values.
inline void check_portable_dot_matches_float64_sums_of_the_codes(const QuantizedDotFormat& format,
                                                                 int (*code_of)(const uint8_t* block, int j)) {
  const pillow::Q8_0DotRows portable_dot = pillow::portable::kernel_table().*format.dot_rows;
  const int64_t bytes = format.bytes_per_block;
  for (int64_t blocks : {1, 3, 9, 17, 24, 65}) {
    const int64_t rows = 5;
    const std::vector<uint8_t> w = format.random_weight(rows, blocks, static_cast<uint32_t>(blocks));
    std::mt19937 random(static_cast<uint32_t>(blocks) + 100);
    std::vector<int8_t> x_codes(static_cast<size_t>(32 * blocks));
    std::vector<float> x_scales(static_cast<size_t>(blocks));
    for (int8_t& code : x_codes) code = static_cast<int8_t>(static_cast<int>(random() % 255) - 127);
    for (float& scale : x_scales) {
      scale = static_cast<float>(f16_value(static_cast<uint16_t>((8 + random() % 6) << 10 | random() % 1024)));
    }
    std::vector<float> out(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; r += 4) {
      const int count = static_cast<int>(std::min<int64_t>(4, rows - r));
      portable_dot(out.data() + r, w.data() + r * blocks * bytes, blocks * bytes, x_codes.data(), x_scales.data(),
                   blocks, count);
    }
    for (int64_t r = 0; r < rows; ++r) {
      double sum = 0, magnitude = 0;
      for (int64_t b = 0; b < blocks; ++b) {
        const uint8_t* block = w.data() + (r * blocks + b) * bytes;
        const double d = f16_value(static_cast<uint16_t>(block[0] | block[1] << 8)) * x_scales[b];
        for (int lane = 0; lane < 8; ++lane) {
          int64_t dot = 0;
          for (int j = 4 * lane; j < 4 * lane + 4; ++j) dot += code_of(block, j) * x_codes[b * 32 + j];
          sum += d * static_cast<double>(dot);
          magnitude += std::fabs(d * static_cast<double>(dot));
        }
      }
      // f32 rounding: d_w·d_x once per block, then a chain of `blocks` FMAs per lane and 3 adds.
      CHECK(std::fabs(out[r] - sum) <= (blocks + 5) * std::ldexp(1.0, -24) * magnitude);
    }
  }
}

// The decode GEMV rows [3, 35) of a random [37, columns] weight for 1..4 tokens, accumulated onto
// 1.0 with ldy 40, against the portable loop per row and token (the rows outside left alone), and
// the public op (x rounded inside) against the same bits.
inline void check_gemv_rows_and_matvec_use_the_chosen_kernel(const QuantizedDotFormat& format, int64_t columns) {
  const pillow::Q8_0DotRows portable_dot = pillow::portable::kernel_table().*format.dot_rows;
  const int64_t rows = 37, blocks = columns / format.values_per_block, row_bytes = blocks * format.bytes_per_block;
  const std::vector<uint8_t> w = format.random_weight(rows, blocks, 9);
  std::mt19937 random(10);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (int tokens = 1; tokens <= 4; ++tokens) {
    std::vector<float> x(static_cast<size_t>(tokens * columns));
    for (float& value : x) value = uniform(random);
    std::vector<int8_t> codes(x.size());
    std::vector<float> scales(static_cast<size_t>(tokens * blocks));
    format.quantize_x(codes.data(), scales.data(), x.data(), tokens, columns);
    // y[t·ldy + r] over rows [3, 35), accumulated onto 1.0.
    const int64_t ldy = 40;
    std::vector<float> y(static_cast<size_t>(tokens * ldy), 1.0f);
    format.gemv_rows(y.data(), ldy, codes.data(), scales.data(), w.data(), columns, 3, 35, tokens, true);
    for (int t = 0; t < tokens; ++t) {
      for (int64_t r = 0; r < ldy; ++r) {
        float value = 0;
        if (r >= 3 && r < 35) {
          portable_dot(&value, w.data() + r * row_bytes, row_bytes, codes.data() + t * columns,
                       scales.data() + t * blocks, blocks, 1);
        }
        CHECK(y[t * ldy + r] == (r >= 3 && r < 35 ? 1.0f + value : 1.0f));
      }
      // The public op: x rounded inside, the same bits.
      std::vector<float> out(static_cast<size_t>(rows));
      format.matvec(out.data(), x.data() + t * columns, w.data(), rows, columns);
      for (int64_t r = 3; r < 35; ++r) CHECK(out[r] + 1.0f == y[t * ldy + r]);
    }
  }
}

}  // namespace pillow_test
