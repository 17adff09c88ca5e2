// The Q4_0 × Q8_0 products (llama.cpp's vec_dot_q4_0_q8_0 numerics, see ops/cpu/quantized_matvec.h):
// Q4_0 blocks built by hand against values computed here from the format's definition, the
// portable dot products against a hand-computed block and against float64 sums of the decoded
// codes, every SIMD variant this CPU can run (AVX2, AVX-512, AVX-512 VNNI) against the portable
// loop bit for bit, the GEMV rows and the public op, and the shape checks.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "ops/common/weight_view.h"
#include "ops/cpu/kernel_table.h"
#include "ops/cpu/quantized_matvec.h"
#include "runtime/cpu_features.h"
#include "runtime/errors.h"
#include "error_code.h"
#include "quantized_dot_checks.h"
#include "test_harness.h"

using namespace pillow;
using pillow_test::DotVariant;
using pillow_test::error_code_of;
using pillow_test::f16_value;

namespace {

// A block's scale field set to `bits` (little-endian).
void set_scale(uint8_t* block, uint16_t bits) {
  block[0] = static_cast<uint8_t>(bits & 0xff);
  block[1] = static_cast<uint8_t>(bits >> 8);
}

// The signed code (−8..7) of value j of a Q4_0 block, by the format's definition.
int code_of(const uint8_t* block, int j) { return (j < 16 ? block[2 + j] & 0x0F : block[2 + j - 16] >> 4) - 8; }

// A [rows, 32·blocks] weight in Q4_0: random bytes (every nibble 0..15) and random normal f16 scales.
std::vector<uint8_t> random_blocks(int64_t rows, int64_t blocks, uint32_t seed) {
  std::mt19937 random(seed);
  std::vector<uint8_t> w(static_cast<size_t>(rows * blocks * 18));
  for (int64_t b = 0; b < rows * blocks; ++b) {
    set_scale(w.data() + b * 18,
              static_cast<uint16_t>((random() % 2) << 15 | (5 + random() % 8) << 10 | random() % 1024));
    for (int j = 0; j < 16; ++j) w[b * 18 + 2 + j] = static_cast<uint8_t>(random() & 0xff);
  }
  return w;
}

// Sets every block's codes to `code` (both nibbles of every byte) and its scale to `bits`.
void fill_blocks(std::vector<uint8_t>& w, int code, uint16_t bits) {
  for (size_t b = 0; b < w.size() / 18; ++b) {
    set_scale(w.data() + b * 18, bits);
    std::memset(w.data() + b * 18 + 2, (code + 8) | (code + 8) << 4, 16);
  }
}

// The Q4_0 weights and their kernels, for the checks shared with the Q8_0 and Q4_K tests.
const pillow_test::QuantizedDotFormat kQ4_0Format = {
    32, 18, &KernelTable::q4_0_dot_rows, q4_0_dot_kernel, avx512_vnni::q4_0_dot_kernel, q8_0_quantize_rows,
    q4_0_gemv_rows, quantized_matvec_q4_0, random_blocks,
};

// The SIMD variants this CPU runs (the portable loop is the reference they are compared with).
std::vector<DotVariant> simd_variants() { return pillow_test::simd_variants(kQ4_0Format); }

}  // namespace

TEST(q4_0_values_of_hand_built_blocks) {
  // Block 0: d = 0.5 (f16 0x3800). qs[0] = 0x8F: value 0 = (15 − 8)·0.5 = 3.5, value 16 = (8 − 8)·0.5 = 0;
  // qs[1] = 0x10: value 1 = (0 − 8)·0.5 = −4, value 17 = (1 − 8)·0.5 = −3.5; qs[15] = 0x7A: value 15 =
  // (10 − 8)·0.5 = 1, value 31 = (7 − 8)·0.5 = −0.5; every other byte 0x88 (codes 0).
  // Block 1: d = −0.25 (0xB400), qs[3] = 0x0C: value 3 = (12 − 8)·−0.25 = −1, value 19 = (0 − 8)·−0.25 = 2.
  std::vector<uint8_t> w(36, 0x88);
  set_scale(w.data(), 0x3800);
  w[2 + 0] = 0x8F;
  w[2 + 1] = 0x10;
  w[2 + 15] = 0x7A;
  set_scale(w.data() + 18, 0xB400);
  w[18 + 2 + 3] = 0x0C;
  std::vector<float> expected(64, 0.0f);
  expected[0] = 3.5f;
  expected[1] = -4.0f;
  expected[15] = 1.0f;
  expected[17] = -3.5f;
  expected[31] = -0.5f;
  expected[32 + 3] = -1.0f;
  expected[32 + 19] = 2.0f;
  for (int64_t i = 0; i < 64; ++i) CHECK(q4_0_value(w.data(), i) == expected[i]);
  std::vector<float> all(64, 99.0f);
  q4_0_dequantize_range(all.data(), w.data(), 0, 64);
  CHECK(all == expected);
  // A stretch that starts and ends inside blocks: values 13..50.
  std::vector<float> stretch(38, 99.0f);
  q4_0_dequantize_range(stretch.data(), w.data(), 13, 38);
  CHECK(std::equal(stretch.begin(), stretch.end(), expected.begin() + 13));
  // Through the type-dispatched helpers the GEMM's packing calls.
  CHECK(block_value(WeightType::Q4_0, w.data(), 17) == -3.5f);
  std::fill(stretch.begin(), stretch.end(), 99.0f);
  block_dequantize_range(WeightType::Q4_0, stretch.data(), w.data(), 13, 38);
  CHECK(std::equal(stretch.begin(), stretch.end(), expected.begin() + 13));
}

TEST(q4_0_dequantization_is_the_code_times_the_f16_scale_in_f32) {
  // Every byte value in every position, under scales across f16's range (subnormal, normal, large,
  // negative, zero): value = float(code) · float(d), one f32 multiply of exact operands.
  std::mt19937 random(5);
  const uint16_t fixed[] = {0x0000, 0x8000, 0x0001, 0x03ff, 0x0400, 0x3c00, 0x7bff, 0xfbff, 0x251f};
  int failures = 0;
  for (int trial = 0; trial < 64; ++trial) {
    // Exponents 0..30: every finite f16.
    const uint16_t bits = trial < 9 ? fixed[trial] : static_cast<uint16_t>((random() & 0x83ff) | (random() % 31) << 10);
    std::vector<uint8_t> w(16 * 18);
    for (int b = 0; b < 16; ++b) {
      set_scale(w.data() + b * 18, bits);
      for (int j = 0; j < 16; ++j) w[b * 18 + 2 + j] = static_cast<uint8_t>(b * 16 + j);
    }
    std::vector<float> values(16 * 32);
    q4_0_dequantize_range(values.data(), w.data(), 0, 16 * 32);
    for (int b = 0; b < 16; ++b) {
      for (int j = 0; j < 32; ++j) {
        const float expected = static_cast<float>(code_of(w.data() + b * 18, j)) * static_cast<float>(f16_value(bits));
        if (!(values[b * 32 + j] == expected && q4_0_value(w.data(), b * 32 + j) == expected) && failures++ < 3) {
          std::fprintf(stderr, "  d bits 0x%04x, byte %d, value %d: %.9g, expected %.9g\n", bits, b * 16 + j % 16, j,
                       values[b * 32 + j], expected);
        }
      }
    }
  }
  CHECK(failures == 0);
}

TEST(q4_0_portable_dot_matches_a_hand_computed_block) {
  // W block: d = 0.5; value 0 = 7 (nibble 15), value 1 = −8 (nibble 0), value 16 = 3 (nibble 11),
  // value 31 = −1 (nibble 7), the rest 0 (nibble 8). x codes: 127, −50 at 0, 1; 25 at 16; 1 at 31;
  // d_x = 0.02… (f16 0x251f). Σ = 7·127 + 8·50 + 3·25 − 1 = 1363; every partial sum is exact in f32.
  std::vector<uint8_t> w(18, 0x88);
  set_scale(w.data(), 0x3800);
  w[2 + 0] = 0xBF;   // low 15 (value 0 = 7), high 11 (value 16 = 3)
  w[2 + 1] = 0x80;   // low 0 (value 1 = −8)
  w[2 + 15] = 0x78;  // high 7 (value 31 = −1)
  std::vector<int8_t> x_codes(32, 0);
  x_codes[0] = 127;
  x_codes[1] = -50;
  x_codes[16] = 25;
  x_codes[31] = 1;
  const float dx = static_cast<float>(f16_value(0x251f));
  float out = 0;
  portable::kernel_table().q4_0_dot_rows(&out, w.data(), 18, x_codes.data(), &dx, 1, 1);
  CHECK(out == static_cast<float>(1363.0 * 0.5 * dx));
  for (const DotVariant& variant : simd_variants()) {
    float simd = 0;
    variant.dot(&simd, w.data(), 18, x_codes.data(), &dx, 1, 1);
    CHECK(simd == out);
  }
  // The extremes: code −8 times x −127 in every position (+8·127·32), and code 7 times 127.
  const float one = 1.0f;
  for (const auto& [code, x, expected] : {std::tuple{-8, -127, 8.0f * 127.0f * 32.0f},
                                          std::tuple{7, 127, 7.0f * 127.0f * 32.0f},
                                          std::tuple{-8, 127, -8.0f * 127.0f * 32.0f}}) {
    fill_blocks(w, code, 0x3c00);
    std::vector<int8_t> x_all(32, static_cast<int8_t>(x));
    portable::kernel_table().q4_0_dot_rows(&out, w.data(), 18, x_all.data(), &one, 1, 1);
    CHECK(out == expected);
    for (const DotVariant& variant : simd_variants()) {
      float simd = 0;
      variant.dot(&simd, w.data(), 18, x_all.data(), &one, 1, 1);
      CHECK(simd == expected);
    }
  }
}

TEST(q4_0_portable_dot_matches_float64_sums_of_the_codes) {
  pillow_test::check_portable_dot_matches_float64_sums_of_the_codes(kQ4_0Format, code_of);
}

TEST(q4_0_simd_dot_products_equal_the_portable_loop_bit_for_bit) {
  pillow_test::check_simd_dot_products_equal_the_portable_loop(kQ4_0Format, {1, 3, 7, 9, 25, 64, 67},
                                                               {1, 2, 3, 4, 5, 13, 67});
}

TEST(q4_0_gemv_rows_and_matvec_use_the_chosen_kernel_per_token) {
  pillow_test::check_gemv_rows_and_matvec_use_the_chosen_kernel(kQ4_0Format, 800);
}

TEST(q4_0_matvec_and_matrix_bytes_refuse_bad_arguments_with_errors) {
  std::vector<uint8_t> w(18 * 4, 0x88);
  std::vector<float> x(64, 1.0f), out(4);
  CHECK(error_code_of([&] { quantized_matvec_q4_0(out.data(), x.data(), w.data(), 2, 48); }) == "E_SHAPE");
  CHECK(error_code_of([&] { quantized_matvec_q4_0(out.data(), x.data(), w.data(), 0, 64); }) == "E_SHAPE");
  CHECK(error_code_of([&] { quantized_matvec_q4_0(out.data(), x.data(), w.data(), 2, -32); }) == "E_SHAPE");
  CHECK(error_code_of([&] { quantized_matvec_q4_0(out.data(), nullptr, w.data(), 2, 64); }) == "E_ARGUMENT");
  CHECK(error_code_of([&] { quantized_matvec_q4_0(nullptr, x.data(), w.data(), 2, 64); }) == "E_ARGUMENT");
  CHECK(error_code_of([&] { quantized_matvec_q4_0(out.data(), x.data(), w.data(), 2, 64); }) == "none");
  CHECK(q4_0_matrix_bytes("test", 3, 96) == 3 * 3 * 18);
  CHECK(q8_0_matrix_bytes("test", 3, 96) == 3 * 3 * 34);
  try {
    q4_0_matrix_bytes("someOp", 2, 40);
    CHECK(false);
  } catch (const PillowError& e) {
    const std::string message = e.what();
    CHECK(message.find("someOp") != std::string::npos && message.find("q4_0") != std::string::npos);
  }
}

// The AVX-512 VNNI kernel multiplies the high nibbles in place (16 × the code) and scales those
// lanes by d_x/16: bit-exact only while d_x/16 and the products stay normal f32. Scales at the
// extremes of f16 (subnormal d_w, the largest d_w, d_x from values near f16's smallest scale) and
// codes at both ends must still give the portable loop's bits, in every variant, 1 row per call and 4.
TEST(q4_0_simd_dot_products_keep_the_portable_bits_at_extreme_scales) {
  const int64_t rows = 8, blocks = 9;
  std::vector<uint8_t> w = random_blocks(rows, blocks, 21);
  const uint16_t scale_bits[] = {0x0001, 0x03ff, 0x8001, 0x7bff, 0xfbff, 0x0400, 0x0000, 0x3c00};
  for (int64_t b = 0; b < rows * blocks; ++b) set_scale(w.data() + b * 18, scale_bits[b % 8]);
  std::memset(w.data() + 2, 0xff, 16);                 // row 0, block 0: every code +7
  std::memset(w.data() + blocks * 18 + 2, 0x00, 16);   // row 1, block 0: every code −8
  std::mt19937 random(5);
  std::vector<float> x(static_cast<size_t>(32 * blocks));
  for (int64_t i = 0; i < static_cast<int64_t>(x.size()); ++i) {
    const float magnitude = i < 64 ? 1e-5f : (i < 128 ? 6e4f : 1.0f);  // tiny, huge and ordinary blocks
    x[i] = magnitude * (static_cast<float>(random() % 2001) / 1000.0f - 1.0f);
  }
  std::vector<int8_t> codes(x.size());
  std::vector<float> scales(static_cast<size_t>(blocks));
  q8_0_quantize_rows(codes.data(), scales.data(), x.data(), 1, 32 * blocks);
  std::vector<float> expected(static_cast<size_t>(rows)), actual(expected.size());
  for (int64_t r = 0; r < rows; r += 4) {
    portable::kernel_table().q4_0_dot_rows(expected.data() + r, w.data() + r * blocks * 18, blocks * 18, codes.data(),
                                           scales.data(), blocks, 4);
  }
  int compared = 0;
  for (const DotVariant& variant : simd_variants()) {
    for (int tile : {1, 4}) {
      for (int64_t r = 0; r < rows; r += tile) {
        variant.dot(actual.data() + r, w.data() + r * blocks * 18, blocks * 18, codes.data(), scales.data(), blocks,
                    tile);
      }
      ++compared;
      if (std::memcmp(actual.data(), expected.data(), actual.size() * sizeof(float)) != 0) {
        std::fprintf(stderr, "  %s differs at extreme scales (tile %d)\n", variant.name, tile);
        CHECK(false);
      }
    }
  }
  CHECK(compared == static_cast<int>(simd_variants().size()) * 2);
  std::printf("     (%d variant runs compared)\n", compared);
}
