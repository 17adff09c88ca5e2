// The Q4_K × Q8_K products (llama.cpp's vec_dot_q4_K_q8_K numerics, see ops/cpu/quantized_matvec.h):
// Q4_K super-blocks built by hand against values computed here from the format's definition
// (ggml-common.h's block_q4_K, get_scale_min_k4), x's Q8_K rounding against quantize_row_q8_K_ref's
// definition written here, the portable dot products against a hand-computed super-block and
// against float64 sums of the decoded codes, every SIMD variant this CPU can run (AVX2, AVX-512,
// AVX-512 VNNI) against the portable loop bit for bit, the GEMV rows and the public op, and the
// shape checks.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
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

constexpr int64_t kBytes = 144;

// One super-block as its fields: d and dmin as f16 bits, 8 scales and 8 mins (6 bits), 256 codes.
struct SuperBlock {
  uint16_t d, dmin;
  int scales[8], mins[8];
  int codes[256];
};

// The 144 bytes of a super-block, packed from ggml-common.h's layout: d, dmin, then scales[12]
// (bytes 0-3: scale j | (scale j+4 >> 4) << 6, bytes 4-7: the same for the mins, bytes 8-11: scale
// j+4's low 4 bits | min j+4's low 4 bits << 4), then qs[128] (value 64r + l the low nibble of
// qs[32r + l], value 64r + 32 + l its high nibble).
void pack(const SuperBlock& s, uint8_t* block) {
  block[0] = static_cast<uint8_t>(s.d & 0xff);
  block[1] = static_cast<uint8_t>(s.d >> 8);
  block[2] = static_cast<uint8_t>(s.dmin & 0xff);
  block[3] = static_cast<uint8_t>(s.dmin >> 8);
  for (int j = 0; j < 4; ++j) {
    block[4 + j] = static_cast<uint8_t>(s.scales[j] | (s.scales[j + 4] >> 4) << 6);
    block[8 + j] = static_cast<uint8_t>(s.mins[j] | (s.mins[j + 4] >> 4) << 6);
    block[12 + j] = static_cast<uint8_t>((s.scales[j + 4] & 15) | (s.mins[j + 4] & 15) << 4);
  }
  for (int r = 0; r < 4; ++r) {
    for (int l = 0; l < 32; ++l) block[16 + 32 * r + l] = static_cast<uint8_t>(s.codes[64 * r + l] | s.codes[64 * r + 32 + l] << 4);
  }
}

// Value v of a super-block: (d·scale)·code − dmin·min in exact arithmetic, rounded once to f32 (the
// products are exact in f32, so that is the f32 computation's result); the tests' d and dmin keep
// the exact difference within a double's 53 bits.
float value_of(const SuperBlock& s, int v) {
  const double exact = f16_value(s.d) * s.scales[v / 32] * s.codes[v] - f16_value(s.dmin) * s.mins[v / 32];
  return static_cast<float>(exact);
}

SuperBlock random_super_block(std::mt19937& random) {
  SuperBlock s;
  // Normal f16 d in [2^-10, 2^-6), dmin in [2^-11, 2^-7), positive as llama.cpp writes them.
  s.d = static_cast<uint16_t>((5 + random() % 4) << 10 | random() % 1024);
  s.dmin = static_cast<uint16_t>((4 + random() % 4) << 10 | random() % 1024);
  for (int j = 0; j < 8; ++j) {
    s.scales[j] = static_cast<int>(random() % 64);
    s.mins[j] = static_cast<int>(random() % 64);
  }
  for (int& code : s.codes) code = static_cast<int>(random() % 16);
  return s;
}

// A [rows, 256·blocks] weight in Q4_K, and its super-blocks' fields.
std::vector<uint8_t> random_weight(int64_t rows, int64_t blocks, uint32_t seed, std::vector<SuperBlock>* fields = nullptr) {
  std::mt19937 random(seed);
  std::vector<uint8_t> w(static_cast<size_t>(rows * blocks * kBytes));
  for (int64_t b = 0; b < rows * blocks; ++b) {
    const SuperBlock s = random_super_block(random);
    pack(s, w.data() + b * kBytes);
    if (fields != nullptr) fields->push_back(s);
  }
  return w;
}

// x in Q8_K by quantize_row_q8_K_ref's definition: m the value of largest magnitude (first on ties),
// iscale = −127/m in f32, code = min(127, iscale·x rounded to nearest, ties to even), scale =
// 1/iscale; zero block: codes 0, scale 0.
void reference_q8_k(std::vector<int8_t>& codes, std::vector<float>& scales, const std::vector<float>& x) {
  codes.assign(x.size(), 0);
  scales.assign(x.size() / 256, 0.0f);
  for (size_t b = 0; b < scales.size(); ++b) {
    float largest = 0, signed_largest = 0;
    for (size_t j = 256 * b; j < 256 * b + 256; ++j) {
      if (std::fabs(x[j]) > largest) {
        largest = std::fabs(x[j]);
        signed_largest = x[j];
      }
    }
    if (largest == 0) continue;
    const float iscale = -127.0f / signed_largest;
    for (size_t j = 256 * b; j < 256 * b + 256; ++j) {
      const float scaled = iscale * x[j];
      codes[j] = static_cast<int8_t>(std::min(127.0f, std::nearbyint(scaled)));
    }
    scales[b] = 1.0f / iscale;
  }
}

// The Q4_K weights and their kernels, for the checks shared with the Q8_0 and Q4_0 tests.
const pillow_test::QuantizedDotFormat kQ4_KFormat = {
    256,
    kBytes,
    &KernelTable::q4_k_dot_rows,
    q4_k_dot_kernel,
    avx512_vnni::q4_k_dot_kernel,
    q8_k_quantize_rows,
    q4_k_gemv_rows,
    quantized_matvec_q4_k,
    [](int64_t rows, int64_t blocks, uint32_t seed) { return random_weight(rows, blocks, seed); },
};

// The SIMD variants this CPU runs (the portable loop is the reference they are compared with).
std::vector<DotVariant> simd_variants() { return pillow_test::simd_variants(kQ4_KFormat); }

}  // namespace

TEST(q4_k_values_of_hand_built_super_blocks) {
  // d = 1 (f16 0x3C00), dmin = 0.5 (0x3800); scales and mins above 15 so the packed high bits count;
  // code of value v = (7v + 3) mod 16.
  SuperBlock s{0x3c00, 0x3800, {1, 2, 3, 4, 5, 37, 7, 63}, {0, 1, 2, 3, 4, 5, 50, 17}, {}};
  for (int v = 0; v < 256; ++v) s.codes[v] = (7 * v + 3) % 16;
  std::vector<uint8_t> w(2 * kBytes);
  pack(s, w.data());
  SuperBlock second = s;
  second.d = 0x2c00;     // 1/16
  second.dmin = 0x3000;  // 1/8
  pack(second, w.data() + kBytes);
  std::vector<float> expected(512);
  for (int v = 0; v < 256; ++v) {
    expected[v] = static_cast<float>(s.scales[v / 32] * s.codes[v] - 0.5 * s.mins[v / 32]);
    expected[256 + v] = static_cast<float>(s.scales[v / 32] * s.codes[v] / 16.0 - s.mins[v / 32] / 8.0);
    CHECK(value_of(s, v) == expected[v]);
  }
  for (int64_t i = 0; i < 512; ++i) CHECK(q4_k_value(w.data(), i) == expected[i]);
  std::vector<float> all(512, 99.0f);
  q4_k_dequantize_range(all.data(), w.data(), 0, 512);
  CHECK(all == expected);
  // A stretch that starts and ends inside sub-blocks and crosses the super-blocks' boundary: 13..300.
  std::vector<float> stretch(288, 99.0f);
  q4_k_dequantize_range(stretch.data(), w.data(), 13, 288);
  CHECK(std::equal(stretch.begin(), stretch.end(), expected.begin() + 13));
  // Through the type-dispatched helpers the GEMM's packing calls.
  CHECK(block_value(WeightType::Q4_K, w.data(), 300) == expected[300]);
  std::fill(stretch.begin(), stretch.end(), 99.0f);
  block_dequantize_range(WeightType::Q4_K, stretch.data(), w.data(), 13, 288);
  CHECK(std::equal(stretch.begin(), stretch.end(), expected.begin() + 13));
  // The accessors the kernels use.
  for (int j = 0; j < 8; ++j) {
    int32_t scale, min;
    q4_k_scale_and_min(w.data(), j, &scale, &min);
    CHECK(scale == s.scales[j] && min == s.mins[j]);
  }
  for (int v = 0; v < 256; ++v) CHECK(q4_k_code(w.data(), v) == s.codes[v]);
  // The kernels' all-at-once decode gives the same scales and mins, on random super-blocks too.
  std::vector<SuperBlock> fields;
  const std::vector<uint8_t> random_blocks = random_weight(1, 30, 77, &fields);
  for (int64_t b = 0; b < 31; ++b) {
    const SuperBlock& expected_fields = b == 30 ? s : fields[b];
    const uint8_t* block = b == 30 ? w.data() : random_blocks.data() + b * kBytes;
    uint8_t scales[8], mins[8];
    q4_k_scales_and_mins(block, scales, mins);
    for (int j = 0; j < 8; ++j) CHECK(scales[j] == expected_fields.scales[j] && mins[j] == expected_fields.mins[j]);
  }
}

TEST(q4_k_dequantization_is_ggmls_in_f32_on_random_super_blocks) {
  std::vector<SuperBlock> fields;
  const std::vector<uint8_t> w = random_weight(1, 40, 5, &fields);
  std::vector<float> values(40 * 256);
  q4_k_dequantize_range(values.data(), w.data(), 0, 40 * 256);
  int failures = 0;
  for (int64_t b = 0; b < 40; ++b) {
    for (int v = 0; v < 256; ++v) {
      const float expected = value_of(fields[b], v);
      if (!(values[b * 256 + v] == expected) && failures++ < 3) {
        std::fprintf(stderr, "  super-block %lld value %d: %.9g, expected %.9g\n", static_cast<long long>(b), v,
                     values[b * 256 + v], expected);
      }
    }
  }
  CHECK(failures == 0);
}

TEST(q8_k_rounding_of_x_is_quantize_row_q8_k_refs) {
  std::mt19937 random(17);
  std::uniform_real_distribution<float> uniform(-2.0f, 2.0f);
  std::vector<float> x(256 * 6);
  for (float& value : x) value = uniform(random);
  for (int j = 256; j < 512; ++j) x[j] = 0.0f;               // a zero block: scale 0, codes 0
  for (int j = 512; j < 768; ++j) x[j] = 0.25f * (j % 9);    // positive only: the largest maps to −127
  x[768 + 5] = -3.0f;                                        // a negative largest value
  for (int j = 1024; j < 1280; ++j) x[j] = (j % 2 ? 1 : -1) * 2.0f * ((j - 1024) % 127 + 0.5f) / 127.0f;  // near halves
  std::vector<int8_t> codes(x.size()), expected_codes;
  std::vector<float> scales(x.size() / 256), expected_scales;
  q8_k_quantize_rows(codes.data(), scales.data(), x.data(), 2, 768);
  reference_q8_k(expected_codes, expected_scales, x);
  CHECK(codes == expected_codes);
  CHECK(scales == expected_scales);
  CHECK(scales[1] == 0.0f && codes[300] == 0);
  CHECK(codes[521] == -127);  // 521 mod 9 = 8: 0.25·8 = 2, the block's largest
  CHECK(codes[768 + 5] == -127);
  // The rounded values the GEMMs multiply: code·scale.
  std::vector<float> rounded(x.size());
  q8_k_round_rows(rounded.data(), x.data(), 3, 512);
  for (size_t j = 0; j < x.size(); ++j) CHECK(rounded[j] == static_cast<float>(expected_codes[j]) * expected_scales[j / 256]);
  // A block of values too small for −127/m to be finite (m = 1e-38, subnormal: the quotient
  // overflows f32): the all-zero block, codes 0 and scale 0.
  std::vector<float> tiny(256, 0.0f);
  tiny[7] = 1e-38f;
  tiny[8] = -5e-39f;
  std::vector<int8_t> tiny_codes(256, 9);
  float tiny_scale = 9.0f;
  q8_k_quantize_rows(tiny_codes.data(), &tiny_scale, tiny.data(), 1, 256);
  CHECK(tiny_scale == 0.0f && std::all_of(tiny_codes.begin(), tiny_codes.end(), [](int8_t c) { return c == 0; }));
  // A block with a NaN or an infinity: codes 0 and scale NaN (its products are NaN, never garbage).
  x[10] = std::numeric_limits<float>::quiet_NaN();
  x[600] = std::numeric_limits<float>::infinity();
  q8_k_quantize_rows(codes.data(), scales.data(), x.data(), 1, 1536);
  CHECK(std::isnan(scales[0]) && std::isnan(scales[2]) && !std::isnan(scales[3]));
  CHECK(codes[10] == 0 && codes[20] == 0 && codes[600] == 0);
}

TEST(q4_k_portable_dot_matches_a_hand_computed_super_block) {
  // d = 1, dmin = 0.5, every scale 2 and min 3 except sub-block 5 (scale 37, min 50); codes all 0
  // except value 0 = 15, value 33 = 1 and value 170 = 9 (sub-block 5). x codes: 127 at 0, −50 at 33,
  // 7 at 170, 1 at 255, else 0; x scale 0.25.
  //   products = 2·15·127 + 2·1·(−50) + 37·9·7 = 3810 − 100 + 2331 = 6041
  //   offsets  = 3·127 + 3·(−50) + 50·7 + 3·1 = 381 − 150 + 350 + 3 = 584
  //   value = 0.25·1·6041 − 0.25·0.5·584 = 1510.25 − 73 = 1437.25 (every step exact in f32)
  SuperBlock s{0x3c00, 0x3800, {2, 2, 2, 2, 2, 37, 2, 2}, {3, 3, 3, 3, 3, 50, 3, 3}, {}};
  s.codes[0] = 15;
  s.codes[33] = 1;
  s.codes[170] = 9;
  std::vector<uint8_t> w(kBytes);
  pack(s, w.data());
  std::vector<int8_t> x(256, 0);
  x[0] = 127;
  x[33] = -50;
  x[170] = 7;
  x[255] = 1;
  const float scale = 0.25f;
  float out = 0;
  portable::kernel_table().q4_k_dot_rows(&out, w.data(), kBytes, x.data(), &scale, 1, 1);
  CHECK(out == 1437.25f);
  for (const DotVariant& variant : simd_variants()) {
    float simd = 0;
    variant.dot(&simd, w.data(), kBytes, x.data(), &scale, 1, 1);
    CHECK(simd == out);
  }
  // The extremes: every code 15, scale and min 63, x all 127 or all −127 (the int32 sums at their
  // largest: 8·63·32·15·127 = 30 723 840, which float() rounds; the variants round it alike).
  SuperBlock full{0x3c00, 0x3c00, {63, 63, 63, 63, 63, 63, 63, 63}, {63, 63, 63, 63, 63, 63, 63, 63}, {}};
  for (int& code : full.codes) code = 15;
  pack(full, w.data());
  const float one = 1.0f;
  for (int sign : {1, -1}) {
    std::vector<int8_t> x_all(256, static_cast<int8_t>(127 * sign));
    portable::kernel_table().q4_k_dot_rows(&out, w.data(), kBytes, x_all.data(), &one, 1, 1);
    const double exact = sign * (8.0 * 63 * 32 * 15 * 127 - 8.0 * 63 * 32 * 127);
    CHECK(out == static_cast<float>(static_cast<float>(sign * 30723840.0) - static_cast<float>(sign * 2048256.0)));
    CHECK(std::fabs(out - exact) <= 2.0);
    for (const DotVariant& variant : simd_variants()) {
      float simd = 0;
      variant.dot(&simd, w.data(), kBytes, x_all.data(), &one, 1, 1);
      CHECK(simd == out);
    }
  }
}

TEST(q4_k_portable_dot_matches_float64_sums_of_the_codes) {
  for (int64_t blocks : {1, 2, 3, 7, 12}) {
    const int64_t rows = 5;
    std::vector<SuperBlock> fields;
    const std::vector<uint8_t> w = random_weight(rows, blocks, static_cast<uint32_t>(blocks), &fields);
    std::mt19937 random(static_cast<uint32_t>(blocks) + 100);
    std::vector<int8_t> x_codes(static_cast<size_t>(256 * blocks));
    std::vector<float> x_scales(static_cast<size_t>(blocks));
    for (int8_t& code : x_codes) code = static_cast<int8_t>(static_cast<int>(random() % 255) - 127);
    for (float& scale : x_scales) scale = std::ldexp(1.0f + (random() % 1024) / 1024.0f, -static_cast<int>(random() % 8));
    std::vector<float> out(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; r += 4) {
      const int count = static_cast<int>(std::min<int64_t>(4, rows - r));
      portable::kernel_table().q4_k_dot_rows(out.data() + r, w.data() + r * blocks * kBytes, blocks * kBytes,
                                             x_codes.data(), x_scales.data(), blocks, count);
    }
    for (int64_t r = 0; r < rows; ++r) {
      double sum = 0, magnitude = 0;
      for (int64_t b = 0; b < blocks; ++b) {
        const SuperBlock& s = fields[r * blocks + b];
        for (int v = 0; v < 256; ++v) {
          const double term = (f16_value(s.d) * s.scales[v / 32] * s.codes[v] - f16_value(s.dmin) * s.mins[v / 32]) *
                              x_codes[b * 256 + v] * x_scales[b];
          sum += term;
          magnitude += std::fabs(term);
        }
      }
      // f32 rounding: float() of each super-block's two int32 sums, d_x·d once each, two chains of
      // `blocks` FMAs, one subtraction.
      CHECK(std::fabs(out[r] - sum) <= (2 * blocks + 4) * std::ldexp(1.0, -23) * magnitude);
    }
  }
}

TEST(q4_k_simd_dot_products_equal_the_portable_loop_bit_for_bit) {
  pillow_test::check_simd_dot_products_equal_the_portable_loop(kQ4_KFormat, {1, 2, 3, 5, 11}, {1, 2, 3, 4, 5, 13});
}

TEST(q4_k_gemv_rows_and_matvec_use_the_chosen_kernel_per_token) {
  pillow_test::check_gemv_rows_and_matvec_use_the_chosen_kernel(kQ4_KFormat, 768);
}

TEST(q4_k_matvec_and_matrix_bytes_refuse_bad_arguments_with_errors) {
  std::vector<uint8_t> w(kBytes * 4, 0);
  std::vector<float> x(512, 1.0f), out(4);
  CHECK(error_code_of([&] { quantized_matvec_q4_k(out.data(), x.data(), w.data(), 2, 96); }) == "E_SHAPE");
  CHECK(error_code_of([&] { quantized_matvec_q4_k(out.data(), x.data(), w.data(), 0, 256); }) == "E_SHAPE");
  CHECK(error_code_of([&] { quantized_matvec_q4_k(out.data(), x.data(), w.data(), 2, -256); }) == "E_SHAPE");
  CHECK(error_code_of([&] { quantized_matvec_q4_k(out.data(), nullptr, w.data(), 2, 256); }) == "E_ARGUMENT");
  CHECK(error_code_of([&] { quantized_matvec_q4_k(nullptr, x.data(), w.data(), 2, 256); }) == "E_ARGUMENT");
  CHECK(error_code_of([&] { quantized_matvec_q4_k(out.data(), x.data(), w.data(), 2, 512); }) == "none");
  CHECK(q4_k_matrix_bytes("test", 3, 768) == 3 * 3 * kBytes);
  try {
    q4_k_matrix_bytes("someOp", 2, 320);
    CHECK(false);
  } catch (const PillowError& e) {
    const std::string message = e.what();
    CHECK(message.find("someOp") != std::string::npos && message.find("q4_k") != std::string::npos &&
          message.find("multiple of 256") != std::string::npos);
  }
}
