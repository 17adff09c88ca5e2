// The Q8_0 × Q8_0 products (llama.cpp's numerics, see ops/cpu/quantized_matvec.h): x's rounding to
// Q8_0 on hand-computed blocks, the f16 rounding of its scale against F16C, the portable dot
// products against a hand-computed block and against float64 sums of the decoded codes, and every
// SIMD variant this CPU can run (AVX2, AVX-512, AVX-512 VNNI) against the portable loop, bit for bit.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <immintrin.h>

#include "ops/common/f16.h"
#include "ops/cpu/kernel_table.h"
#include "ops/cpu/quantized_matvec.h"
#include "runtime/cpu_features.h"
#include "runtime/errors.h"
#include "error_code.h"
#include "quantized_dot_checks.h"
#include "test_harness.h"

using namespace pillow;
using pillow_test::error_code_of;
using pillow_test::f16_value;

namespace {

__attribute__((target("f16c"))) uint16_t f16c_round(float value) { return _cvtss_sh(value, 0); }

// A [rows, 32·blocks] weight in Q8_0: random codes over all of [-128, 127] and random normal f16 scales.
std::vector<uint8_t> random_blocks(int64_t rows, int64_t blocks, uint32_t seed) {
  std::mt19937 random(seed);
  std::vector<uint8_t> w(static_cast<size_t>(rows * blocks * 34));
  for (int64_t b = 0; b < rows * blocks; ++b) {
    const uint16_t bits = static_cast<uint16_t>((random() % 2) << 15 | (5 + random() % 8) << 10 | random() % 1024);
    w[b * 34] = static_cast<uint8_t>(bits & 0xff);
    w[b * 34 + 1] = static_cast<uint8_t>(bits >> 8);
    for (int j = 0; j < 32; ++j) w[b * 34 + 2 + j] = static_cast<uint8_t>(random() & 0xff);
  }
  return w;
}

// The Q8_0 weights and their kernels, for the checks shared with the Q4_0 and Q4_K tests.
const pillow_test::QuantizedDotFormat kQ8_0Format = {
    32, 34, &KernelTable::q8_0_dot_rows, q8_0_dot_kernel, avx512_vnni::q8_0_dot_kernel, q8_0_quantize_rows,
    q8_0_gemv_rows, quantized_matvec_q8_0, random_blocks,
};

}  // namespace

TEST(q8_0_f16_rounding_matches_f16c) {
  if (!cpu_features().f16c) return;  // nothing to compare with on this CPU
  std::mt19937 random(7);
  std::vector<float> values = {0.0f, -0.0f, 1.0f, 65504.0f, 65519.99f, 65520.0f, 1e9f, 6.1035156e-05f, 5.9604645e-08f,
                               2.9802322e-08f, 2.9802326e-08f, 1e-10f, 0.020004272f, 0.02f, INFINITY, -INFINITY};
  for (int i = 0; i < 200000; ++i) {
    uint32_t bits = static_cast<uint32_t>(random());
    if (i % 2) bits = (bits & 0x80ffffff) | ((96 + random() % 48) << 23);  // around f16's range
    float value;
    std::memcpy(&value, &bits, sizeof value);
    if (!std::isnan(value)) values.push_back(value);
  }
  int failures = 0;
  for (float value : values) {
    if (f32_to_f16(value) != f16c_round(value) && failures++ < 3) {
      std::fprintf(stderr, "  f32_to_f16(%.9g) = 0x%04x, F16C 0x%04x\n", value, f32_to_f16(value), f16c_round(value));
    }
  }
  CHECK(failures == 0);
  CHECK(std::isnan(f16_to_f32(f32_to_f16(NAN))));
}

TEST(q8_0_quantize_rows_rounds_hand_computed_blocks) {
  // Block 0: max |x| = 2.54, d = 0.02 (f16 0x251f = 0.020004272…); −1·127/2.54 = −50, 0.011·50 = 0.55 → 1,
  // −0.009·50 = −0.45 → 0. Block 1: d = 1, ties round to even (as llama.cpp's SIMD rounding does:
  // 0.5 → 0, 1.5 → 2, 2.5 → 2). Block 2: all zero.
  std::vector<float> x(96, 0.0f);
  const float first[] = {2.54f, -1.0f, 0.5f, 0.011f, -0.009f};
  const float second[] = {127.0f, 0.5f, 1.5f, 2.5f, -2.5f, -0.5f};
  std::memcpy(x.data(), first, sizeof first);
  std::memcpy(x.data() + 32, second, sizeof second);
  std::vector<int8_t> codes(96, 99);
  std::vector<float> scales(3, 99.0f);
  q8_0_quantize_rows(codes.data(), scales.data(), x.data(), 1, 96);
  const int8_t expected_first[] = {127, -50, 25, 1, 0};
  const int8_t expected_second[] = {127, 0, 2, 2, -2, 0};
  for (int j = 0; j < 5; ++j) CHECK(codes[j] == expected_first[j]);
  for (int j = 0; j < 6; ++j) CHECK(codes[32 + j] == expected_second[j]);
  for (int j = 6; j < 32; ++j) CHECK(codes[j] == 0 && codes[32 + j] == 0 && codes[64 + j] == 0);
  CHECK(scales[0] == static_cast<float>(f16_value(0x251f)));
  CHECK(scales[1] == 1.0f);
  CHECK(scales[2] == 0.0f);
  // The same values rounded back (what the GEMMs multiply).
  std::vector<float> rounded(96);
  q8_0_round_rows(rounded.data(), x.data(), 1, 96);
  CHECK(rounded[1] == -50.0f * scales[0]);
  CHECK(rounded[35] == 2.0f);
  // A block of values below ~3.7e-37, where 127/max overflows: codes 0 and scale 0 (d is an f16 0).
  x[64] = 1e-38f;
  x[65] = -5e-39f;
  q8_0_quantize_rows(codes.data(), scales.data(), x.data(), 1, 96);
  CHECK(scales[2] == 0.0f && codes[64] == 0 && codes[65] == 0);
  x[64] = x[65] = 0.0f;
  // A block with inf or NaN: codes 0, scale NaN (the product is NaN, as in f32), never UB.
  x[70] = INFINITY;
  q8_0_quantize_rows(codes.data(), scales.data(), x.data(), 1, 96);
  CHECK(std::isnan(scales[2]) && codes[70] == 0);
}

TEST(q8_0_portable_dot_matches_a_hand_computed_block) {
  // W block: d = 0.5 (f16 0x3800), codes 1, −2, 3, 4, 5; x codes 127, −50, 25, 1, 0 with d_x = 0.02…:
  // Σ codes = 127 + 100 + 75 + 4 = 306 (all in lane 0), value = 306 · 0.5 · d_x.
  std::vector<uint8_t> w(34, 0);
  w[0] = 0x00;
  w[1] = 0x38;
  const int8_t w_codes[] = {1, -2, 3, 4, 5};
  std::memcpy(w.data() + 2, w_codes, sizeof w_codes);
  std::vector<int8_t> x_codes(32, 0);
  const int8_t codes[] = {127, -50, 25, 1, 0};
  std::memcpy(x_codes.data(), codes, sizeof codes);
  const float dx = static_cast<float>(f16_value(0x251f));
  float out = 0;
  portable::kernel_table().q8_0_dot_rows(&out, w.data(), 34, x_codes.data(), &dx, 1, 1);
  CHECK(out == static_cast<float>(306.0 * 0.5 * dx));
  // −128 (a code ggml never writes, but a file may hold) times 127 in every position: −128·127·32.
  std::memset(w.data() + 2, 0x80, 32);
  w[0] = 0x00;
  w[1] = 0x3c;  // d = 1
  std::vector<int8_t> x_max(32, 127);
  const float one = 1.0f;
  portable::kernel_table().q8_0_dot_rows(&out, w.data(), 34, x_max.data(), &one, 1, 1);
  CHECK(out == -128.0f * 127.0f * 32.0f);
  if (cpu_features().avx2 && cpu_features().fma && cpu_features().f16c) {
    avx2::kernel_table().q8_0_dot_rows(&out, w.data(), 34, x_max.data(), &one, 1, 1);
    CHECK(out == -128.0f * 127.0f * 32.0f);
  }
}

TEST(q8_0_portable_dot_matches_float64_sums_of_the_codes) {
  // A Q8_0 code is the signed byte itself.
  pillow_test::check_portable_dot_matches_float64_sums_of_the_codes(
      kQ8_0Format, [](const uint8_t* block, int j) { return static_cast<int>(static_cast<int8_t>(block[2 + j])); });
}

TEST(q8_0_simd_dot_products_equal_the_portable_loop_bit_for_bit) {
  // Columns 32·blocks, none a multiple of 256 but 2048 (one control), rows 1..67.
  pillow_test::check_simd_dot_products_equal_the_portable_loop(kQ8_0Format, {1, 3, 7, 9, 25, 64, 67},
                                                               {1, 2, 3, 4, 5, 13, 67});
}

TEST(q8_0_gemv_rows_and_matvec_use_the_chosen_kernel_per_token) {
  pillow_test::check_gemv_rows_and_matvec_use_the_chosen_kernel(kQ8_0Format, 800);
}

TEST(q8_0_matvec_refuses_bad_arguments_with_errors) {
  std::vector<uint8_t> w(34 * 4, 0);
  std::vector<float> x(64, 1.0f), out(4);
  CHECK(error_code_of([&] { quantized_matvec_q8_0(out.data(), x.data(), w.data(), 2, 48); }) == "E_SHAPE");
  CHECK(error_code_of([&] { quantized_matvec_q8_0(out.data(), x.data(), w.data(), 0, 64); }) == "E_SHAPE");
  CHECK(error_code_of([&] { quantized_matvec_q8_0(out.data(), x.data(), w.data(), 2, -32); }) == "E_SHAPE");
  CHECK(error_code_of([&] { quantized_matvec_q8_0(out.data(), nullptr, w.data(), 2, 64); }) == "E_ARGUMENT");
  CHECK(error_code_of([&] { quantized_matvec_q8_0(nullptr, x.data(), w.data(), 2, 64); }) == "E_ARGUMENT");
  CHECK(error_code_of([&] { quantized_matvec_q8_0(out.data(), x.data(), w.data(), 2, 64); }) == "none");
}

TEST(q8_0_round_rows_over_threads_equals_the_codes_times_their_scales) {
  // 40 × 1600 values = 2000 blocks: more than one chunk of the pool's parallel_for.
  const int64_t tokens = 40, columns = 1600, blocks = tokens * columns / 32;
  std::mt19937 random(21);
  std::uniform_real_distribution<float> uniform(-4.0f, 4.0f);
  std::vector<float> x(static_cast<size_t>(tokens * columns));
  for (float& value : x) value = uniform(random);
  x[777] = NAN;  // its block only: NaN
  std::vector<int8_t> codes(x.size());
  std::vector<float> scales(static_cast<size_t>(blocks)), rounded(x.size());
  q8_0_quantize_rows(codes.data(), scales.data(), x.data(), tokens, columns);
  q8_0_round_rows(rounded.data(), x.data(), tokens, columns);
  int failures = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const float expected = static_cast<float>(codes[i]) * scales[i / 32];
    const bool same = i / 32 == 777 / 32 ? std::isnan(rounded[i]) : rounded[i] == expected;
    if (!same) ++failures;
    // Within half a step of x, plus what d's f16 rounding (2^-11 relative) moves a code of up to 127.
    if (i / 32 != 777 / 32 && !(std::fabs(rounded[i] - x[i]) <= 0.57f * scales[i / 32])) ++failures;
  }
  CHECK(failures == 0);
}
