// Q8_0, Q4_0 and Q4_K weights (llama.cpp blocks) in the LoRA matmul ops: the decode GEMV, the GEMM
// forward that dequantizes blocks while packing (both multiplying x rounded to Q8_0, or to Q8_K for
// Q4_K, as llama.cpp does), the backward products and prepacking, each against plain double loops
// over the values the test decodes itself from hand-built blocks and its own rounding of x. Every
// test runs once per type.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ops/common/weight_view.h"
#include "ops/cpu/embedding.h"
#include "ops/cpu/gemm.h"
#include "ops/cpu/lora_matmul.h"
#include "ops/common/lora_matmul_output.h"
#include "ops/cpu/matmul.h"
#include "runtime/errors.h"
#include "error_code.h"
#include "test_harness.h"

using namespace pillow;
using pillow_test::error_code_of;

namespace {

// A [rows, columns] weight as Q8_0 or Q4_0 blocks plus the values they stand for, decoded here
// independently of the library: the scale is a normal f16 (1 + m/1024)·2^(e−15); Q8_0 value j =
// q[j]·d, Q4_0 value j = (low nibble of qs[j] − 8)·d and value j + 16 = (high nibble − 8)·d. Q4_K
// super-blocks: d and dmin normal f16, eight 6-bit scales sc and mins m packed as get_scale_min_k4
// reads them, value 64r + l = sc·d·(low nibble of qs[32r + l]) − m·dmin over its sub-block, value
// 64r + 32 + l the same with the high nibble.
struct QuantizedWeight {
  std::vector<uint8_t> blocks;
  std::vector<double> values;
  WeightView view() const { return WeightView{blocks.data(), type}; }
  WeightType type;
};

// f16 bits with exponent field `exponent` and a random mantissa, and its value.
uint16_t random_half(std::mt19937& random, uint16_t exponent, double* value) {
  const uint16_t mantissa = static_cast<uint16_t>(random() % 1024);
  *value = (1.0 + mantissa / 1024.0) * std::ldexp(1.0, exponent - 15);
  return static_cast<uint16_t>(exponent << 10 | mantissa);
}

QuantizedWeight make_q4_k_weight(int64_t rows, int64_t columns, uint32_t seed) {
  std::mt19937 random(seed);
  QuantizedWeight w;
  w.type = WeightType::Q4_K;
  const int64_t count = rows * columns / 256;
  w.blocks.resize(static_cast<size_t>(count * 144));
  w.values.resize(static_cast<size_t>(rows * columns));
  for (int64_t b = 0; b < count; ++b) {
    uint8_t* block = w.blocks.data() + b * 144;
    // d in [2^-11, 2^-9) and dmin in [2^-11, 2^-10): values of about the Q8_0 / Q4_0 weights' size.
    double d, dmin;
    const uint16_t d_bits = random_half(random, static_cast<uint16_t>(4 + random() % 2), &d);
    const uint16_t dmin_bits = random_half(random, 4, &dmin);
    block[0] = static_cast<uint8_t>(d_bits & 0xff);
    block[1] = static_cast<uint8_t>(d_bits >> 8);
    block[2] = static_cast<uint8_t>(dmin_bits & 0xff);
    block[3] = static_cast<uint8_t>(dmin_bits >> 8);
    int scales[8], mins[8];
    for (int j = 0; j < 8; ++j) {
      scales[j] = static_cast<int>(random() % 64);
      mins[j] = static_cast<int>(random() % 64);
    }
    for (int j = 0; j < 4; ++j) {
      block[4 + j] = static_cast<uint8_t>(scales[j] | (scales[j + 4] >> 4) << 6);
      block[8 + j] = static_cast<uint8_t>(mins[j] | (mins[j + 4] >> 4) << 6);
      block[12 + j] = static_cast<uint8_t>((scales[j + 4] & 15) | (mins[j + 4] & 15) << 4);
    }
    double* values = w.values.data() + b * 256;
    for (int r = 0; r < 4; ++r) {
      for (int l = 0; l < 32; ++l) {
        const int low = static_cast<int>(random() % 16), high = static_cast<int>(random() % 16);
        block[16 + 32 * r + l] = static_cast<uint8_t>(low | high << 4);
        // Exact in double, and the f32 value is this rounded once (the products are exact in f32).
        values[64 * r + l] = static_cast<float>(d * scales[2 * r] * low - dmin * mins[2 * r]);
        values[64 * r + 32 + l] = static_cast<float>(d * scales[2 * r + 1] * high - dmin * mins[2 * r + 1]);
      }
    }
  }
  return w;
}

QuantizedWeight make_weight(WeightType type, int64_t rows, int64_t columns, uint32_t seed) {
  if (type == WeightType::Q4_K) return make_q4_k_weight(rows, columns, seed);
  std::mt19937 random(seed);
  QuantizedWeight w;
  w.type = type;
  const int64_t block_bytes = type == WeightType::Q4_0 ? 18 : 34;
  const int64_t count = rows * columns / 32;
  w.blocks.resize(static_cast<size_t>(count * block_bytes));
  w.values.resize(static_cast<size_t>(rows * columns));
  for (int64_t b = 0; b < count; ++b) {
    // d in [2^-10, 2^-5) for Q8_0's codes up to 127; 16 times that for Q4_0's codes up to 8, so
    // both weights are of about the same size.
    const uint16_t exponent = static_cast<uint16_t>((type == WeightType::Q4_0 ? 9 : 5) + random() % 5);
    const uint16_t mantissa = static_cast<uint16_t>(random() % 1024);
    const uint16_t bits = static_cast<uint16_t>((random() % 2) << 15 | exponent << 10 | mantissa);
    const double d = (bits & 0x8000 ? -1.0 : 1.0) * (1.0 + mantissa / 1024.0) * std::ldexp(1.0, exponent - 15);
    uint8_t* block = w.blocks.data() + b * block_bytes;
    block[0] = static_cast<uint8_t>(bits & 0xff);
    block[1] = static_cast<uint8_t>(bits >> 8);
    double* values = w.values.data() + b * 32;
    if (type == WeightType::Q4_0) {
      for (int j = 0; j < 16; ++j) {
        const int low = static_cast<int>(random() % 16), high = static_cast<int>(random() % 16);
        block[2 + j] = static_cast<uint8_t>(low | high << 4);
        values[j] = (low - 8) * d;
        values[j + 16] = (high - 8) * d;
      }
    } else {
      for (int j = 0; j < 32; ++j) {
        const int8_t code = static_cast<int8_t>(static_cast<int>(random() % 255) - 127);
        std::memcpy(block + 2 + j, &code, 1);
        values[j] = code * d;
      }
    }
  }
  return w;
}

std::vector<float> random_vector(int64_t n, uint32_t seed) {
  std::mt19937 random(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = uniform(random);
  return v;
}

// |actual − expected| <= tolerance · (1 + max |expected|), for every element.
void check_all_close(const std::vector<float>& actual, const std::vector<double>& expected, double tolerance) {
  CHECK(actual.size() == expected.size());
  double largest = 0;
  for (double e : expected) largest = std::max(largest, std::fabs(e));
  int failures = 0;
  for (size_t i = 0; i < actual.size() && failures < 3; ++i) {
    if (!(std::fabs(actual[i] - expected[i]) <= tolerance * (1.0 + largest))) {
      std::fprintf(stderr, "  [%zu] = %.9g, expected %.9g\n", i, actual[i], expected[i]);
      ++failures;
    }
  }
  CHECK(failures == 0);
}

// x rounded to Q8_0 and back, as llama.cpp rounds the activations a Q8_0 weight multiplies: per 32
// values d = max|x|/127, code = round(x/d) half away from zero, d kept as f16 (here: 11 significant
// bits, ties to even; the tests' d are normal f16 numbers).
std::vector<float> round_like_q8_0(const std::vector<float>& x) {
  std::vector<float> out(x.size());
  for (size_t b = 0; b < x.size(); b += 32) {
    float largest = 0;
    for (size_t j = b; j < b + 32; ++j) largest = std::max(largest, std::fabs(x[j]));
    const float d = largest / 127.0f;
    const float inverse = d != 0 ? 1.0f / d : 0.0f;
    int exponent;
    const double mantissa = std::frexp(static_cast<double>(d), &exponent);  // [0.5, 1)
    const double d_f16 = std::ldexp(std::nearbyint(mantissa * 2048.0), exponent - 11);
    for (size_t j = b; j < b + 32; ++j) out[j] = static_cast<float>(std::round(x[j] * inverse) * d_f16);
  }
  return out;
}

// x rounded to Q8_K and back, as llama.cpp rounds the activations a Q4_K weight multiplies: per
// 256 values, m the value of largest magnitude, code = min(127, nearest-even(x·(−127/m))), and the
// value code·(1/(−127/m)), all in f32.
std::vector<float> round_like_q8_k(const std::vector<float>& x) {
  std::vector<float> out(x.size(), 0.0f);
  for (size_t b = 0; b < x.size(); b += 256) {
    float largest = 0, signed_largest = 0;
    for (size_t j = b; j < b + 256; ++j) {
      if (std::fabs(x[j]) > largest) {
        largest = std::fabs(x[j]);
        signed_largest = x[j];
      }
    }
    if (largest == 0) continue;
    const float inverse = -127.0f / signed_largest;
    const float d = 1.0f / inverse;
    for (size_t j = b; j < b + 256; ++j) out[j] = std::min(127.0f, std::nearbyint(inverse * x[j])) * d;
  }
  return out;
}

// y = x̂·Wᵀ + s·(x·Aᵀ)·Bᵀ in doubles, x̂ = round_like_q8_0(x) (round_like_q8_k(x) for Q4_K): the
// base product sees x rounded to its weight's activation blocks, the adapter x itself.
std::vector<double> reference_forward(WeightType type, const std::vector<float>& x, const std::vector<double>& w,
                                      const std::vector<float>& a, const std::vector<float>& b, int64_t tokens,
                                      int64_t in, int64_t out, int64_t rank, double scale) {
  std::vector<double> y(static_cast<size_t>(tokens * out), 0.0);
  const std::vector<float> rounded = type == WeightType::Q4_K ? round_like_q8_k(x) : round_like_q8_0(x);
  for (int64_t t = 0; t < tokens; ++t) {
    std::vector<double> u(static_cast<size_t>(rank), 0.0);
    for (int64_t j = 0; j < rank; ++j)
      for (int64_t i = 0; i < in; ++i) u[j] += scale * x[t * in + i] * a[j * in + i];
    for (int64_t o = 0; o < out; ++o) {
      double sum = 0;
      for (int64_t i = 0; i < in; ++i) sum += rounded[t * in + i] * w[o * in + i];
      for (int64_t j = 0; j < rank; ++j) sum += u[j] * b[o * rank + j];
      y[t * out + o] = sum;
    }
  }
  return y;
}

// Input widths the tests use: a few blocks, and (544 = 17 blocks of 32, 768 = 3 super-blocks) one
// whose blocks span the GEMM's K blocks at offsets that are not block boundaries.
int64_t small_inputs(WeightType type) { return type == WeightType::Q4_K ? 256 : 96; }
int64_t large_inputs(WeightType type) { return type == WeightType::Q4_K ? 768 : 544; }

void check_forward_gemv_and_gemm_match_the_dequantized_reference(WeightType type) {
  for (int64_t in : {small_inputs(type), large_inputs(type)}) {
    const int64_t out = 70, rank = 4;
    const QuantizedWeight w = make_weight(type, out, in, static_cast<uint32_t>(in));
    const WeightView view = w.view();
    const std::vector<float> a = random_vector(rank * in, 2), b = random_vector(out * rank, 3);
    for (int64_t tokens : {1, 3, 37}) {
      const std::vector<float> x = random_vector(tokens * in, 4);
      for (int64_t r : {int64_t{0}, rank}) {
        std::vector<float> y(static_cast<size_t>(tokens * out), -1.0f);
        lora_matmul_forward(y.data(), x.data(), view, r ? a.data() : nullptr, r ? b.data() : nullptr, tokens, in, out,
                            r, 0.5f);
        check_all_close(y, reference_forward(type, x, w.values, a, b, tokens, in, out, r, 0.5), 1e-5);
      }
    }
  }
}

void check_backward_matches_the_dequantized_reference(WeightType type) {
  const int64_t tokens = 37, in = large_inputs(type), out = 70, rank = 4;
  const double scale = 0.5;
  const QuantizedWeight w = make_weight(type, out, in, 11);
  const WeightView view = w.view();
  const std::vector<float> x = random_vector(tokens * in, 12), dy = random_vector(tokens * out, 13);
  const std::vector<float> a = random_vector(rank * in, 14), b = random_vector(out * rank, 15);
  // dx = dy·W + s·(dy·B)·A
  std::vector<double> expected(static_cast<size_t>(tokens * in), 0.0), expected_base(expected.size(), 0.0);
  for (int64_t t = 0; t < tokens; ++t) {
    std::vector<double> g(static_cast<size_t>(rank), 0.0);
    for (int64_t j = 0; j < rank; ++j)
      for (int64_t o = 0; o < out; ++o) g[j] += scale * dy[t * out + o] * b[o * rank + j];
    for (int64_t i = 0; i < in; ++i) {
      double sum = 0;
      for (int64_t o = 0; o < out; ++o) sum += dy[t * out + o] * w.values[o * in + i];
      expected_base[t * in + i] = sum;
      for (int64_t j = 0; j < rank; ++j) sum += g[j] * a[j * in + i];
      expected[t * in + i] = sum;
    }
  }
  std::vector<float> dx(static_cast<size_t>(tokens * in)), da(static_cast<size_t>(rank * in)),
      db(static_cast<size_t>(out * rank));
  lora_matmul_backward(dx.data(), da.data(), db.data(), dy.data(), x.data(), view, a.data(), b.data(), tokens, in, out,
                       rank, static_cast<float>(scale));
  check_all_close(dx, expected, 1e-5);
  std::vector<float> dx_base(static_cast<size_t>(tokens * in));
  matmul_backward_input(dx_base.data(), dy.data(), view, tokens, in, out);
  check_all_close(dx_base, expected_base, 1e-5);
  // da and db do not read W: the same as over the f32 weight of the same values.
  std::vector<float> w_f32(w.values.begin(), w.values.end());
  std::vector<float> da_f32(da.size()), db_f32(db.size()), dx_f32(dx.size());
  lora_matmul_backward(dx_f32.data(), da_f32.data(), db_f32.data(), dy.data(), x.data(),
                       WeightView{w_f32.data(), WeightType::F32}, a.data(), b.data(), tokens, in, out, rank,
                       static_cast<float>(scale));
  CHECK(da == da_f32);
  CHECK(db == db_f32);
  // Packing dequantizes to exactly the f32 values, so the GEMM's dx is the f32 weight's, bit for bit.
  CHECK(dx == dx_f32);
}

void check_prepacked_panels_equal_those_of_the_dequantized_weight(WeightType type) {
  const int64_t in = large_inputs(type), out = 70;
  const QuantizedWeight w = make_weight(type, out, in, 21);
  std::vector<float> w_f32(w.values.begin(), w.values.end());
  for (int layout = 0; layout < 2; ++layout) {
    // layout 0: x·Wᵀ (rows of W over k), 1: dy·W (columns of W over k)
    const int64_t rows = layout ? in : out, k_length = layout ? out : in;
    const int64_t row_stride = layout ? 1 : in, k_stride = layout ? in : 1;
    std::vector<float> quantized(static_cast<size_t>(gemm_prepacked_size(rows, k_length)), 7.0f);
    std::vector<float> reference(quantized.size(), 7.0f);
    gemm_prepack(quantized.data(), GemmOperand{w.blocks.data(), type, row_stride, k_stride}, rows, k_length);
    gemm_prepack(reference.data(), f32_operand(w_f32.data(), row_stride, k_stride), rows, k_length);
    CHECK(quantized == reference);
  }
}

void check_weights_with_inputs_not_a_multiple_of_32_are_refused(WeightType type) {
  // 48: not whole 32-value blocks; for Q4_K 96, whole blocks of 32 but not super-blocks of 256.
  const int64_t in = type == WeightType::Q4_K ? 96 : 48, out = 4;
  std::vector<uint8_t> blocks(static_cast<size_t>(out * 4 * 34), 0);
  std::vector<float> x(static_cast<size_t>(in), 1.0f), y(static_cast<size_t>(out));
  const WeightView view{blocks.data(), type};
  CHECK(error_code_of([&] { lora_matmul_forward(y.data(), x.data(), view, nullptr, nullptr, 1, in, out, 0, 1.0f); }) ==
        "E_SHAPE");
  std::vector<float> dx(static_cast<size_t>(in)), dy(static_cast<size_t>(out), 1.0f);
  CHECK(error_code_of([&] { matmul_backward_input(dx.data(), dy.data(), view, 1, in, out); }) == "E_SHAPE");
  // The message names the op and the weight's type.
  try {
    lora_matmul_forward(y.data(), x.data(), view, nullptr, nullptr, 1, in, out, 0, 1.0f);
  } catch (const PillowError& e) {
    const std::string message = e.what();
    CHECK(message.find("lora_matmul_forward") != std::string::npos);
    CHECK(message.find(std::string("a ") + weight_type_name(type) + " weight needs inFeatures divisible by " +
                       std::to_string(block_values(type))) != std::string::npos);
  }
}

void check_multi_adapter_forward_rounds_x_for_the_base_only(WeightType type) {
  const int64_t tokens = 9, in = small_inputs(type), out = 70, rank = 4;
  const QuantizedWeight w = make_weight(type, out, in, 31);
  const WeightView view = w.view();
  const std::vector<float> x = random_vector(tokens * in, 32);
  const std::vector<float> a = random_vector(rank * in, 33), b = random_vector(out * rank, 34);
  const std::vector<double> base = reference_forward(type, x, w.values, a, b, tokens, in, out, 0, 0.0);
  const std::vector<double> adapted = reference_forward(type, x, w.values, a, b, tokens, in, out, rank, 0.5);
  std::vector<int32_t> index(static_cast<size_t>(tokens));
  std::vector<double> expected(static_cast<size_t>(tokens * out));
  for (int64_t t = 0; t < tokens; ++t) {
    index[t] = t % 3 == 0 ? -1 : 0;
    for (int64_t o = 0; o < out; ++o) expected[t * out + o] = (index[t] < 0 ? base : adapted)[t * out + o];
  }
  const float* a_ptr[] = {a.data()};
  const float* b_ptr[] = {b.data()};
  const int64_t ranks[] = {rank};
  const float scales[] = {0.5f};
  std::vector<float> y(static_cast<size_t>(tokens * out), -1.0f);
  lora_matmul_multi_forward(y.data(), x.data(), view, a_ptr, b_ptr, ranks, scales, 1, index.data(), tokens, in, out);
  check_all_close(y, expected, 1e-5);
  const std::vector<int32_t> none(static_cast<size_t>(tokens), -1);
  lora_matmul_multi_forward(y.data(), x.data(), view, a_ptr, b_ptr, ranks, scales, 0, none.data(), tokens, in, out);
  check_all_close(y, base, 1e-5);
}

// A block-quantized embedding table: every looked-up row is exactly the values its blocks stand
// for (decoded by the test itself), repeated tokens included; a token outside the vocabulary and
// a width that is not whole blocks are refused, naming the op.
void check_embedding_rows_decode_to_the_blocks_values(WeightType type) {
  const int64_t vocab = 37, hidden = small_inputs(type);
  const QuantizedWeight table = make_weight(type, vocab, hidden, 51);
  const std::vector<int32_t> tokens = {0, 36, 5, 5, 17};
  const int64_t count = static_cast<int64_t>(tokens.size());
  std::vector<float> out(static_cast<size_t>(count * hidden), -1.0f);
  embedding_forward_blocks(out.data(), tokens.data(), table.blocks.data(), type, count, vocab, hidden);
  for (int64_t n = 0; n < count; ++n) {
    for (int64_t j = 0; j < hidden; ++j) {
      CHECK(out[n * hidden + j] == static_cast<float>(table.values[tokens[n] * hidden + j]));
    }
  }
  const std::vector<int32_t> outside = {3, 37};
  CHECK(error_code_of([&] {
          embedding_forward_blocks(out.data(), outside.data(), table.blocks.data(), type, 2, vocab, hidden);
        }) == "E_ARGUMENT");
  CHECK(error_code_of([&] {
          embedding_forward_blocks(out.data(), tokens.data(), table.blocks.data(), type, count, vocab, hidden - 16);
        }) == "E_SHAPE");
  CHECK(error_code_of([&] {
          embedding_forward_blocks(out.data(), tokens.data(), table.blocks.data(), WeightType::F32, count, vocab,
                                   hidden);
        }) == "E_ARGUMENT");
}

}  // namespace

TEST(q8_0_embedding_rows_decode_to_the_blocks_values) {
  check_embedding_rows_decode_to_the_blocks_values(WeightType::Q8_0);
}
TEST(q4_0_embedding_rows_decode_to_the_blocks_values) {
  check_embedding_rows_decode_to_the_blocks_values(WeightType::Q4_0);
}
TEST(q4_k_embedding_rows_decode_to_the_blocks_values) {
  check_embedding_rows_decode_to_the_blocks_values(WeightType::Q4_K);
}

TEST(q8_0_forward_gemv_and_gemm_match_the_dequantized_reference) {
  check_forward_gemv_and_gemm_match_the_dequantized_reference(WeightType::Q8_0);
}
TEST(q4_0_forward_gemv_and_gemm_match_the_dequantized_reference) {
  check_forward_gemv_and_gemm_match_the_dequantized_reference(WeightType::Q4_0);
}
TEST(q4_k_forward_gemv_and_gemm_match_the_dequantized_reference) {
  check_forward_gemv_and_gemm_match_the_dequantized_reference(WeightType::Q4_K);
}

TEST(q8_0_backward_matches_the_dequantized_reference) {
  check_backward_matches_the_dequantized_reference(WeightType::Q8_0);
}
TEST(q4_0_backward_matches_the_dequantized_reference) {
  check_backward_matches_the_dequantized_reference(WeightType::Q4_0);
}
TEST(q4_k_backward_matches_the_dequantized_reference) {
  check_backward_matches_the_dequantized_reference(WeightType::Q4_K);
}

TEST(q8_0_prepacked_panels_equal_those_of_the_dequantized_weight) {
  check_prepacked_panels_equal_those_of_the_dequantized_weight(WeightType::Q8_0);
}
TEST(q4_0_prepacked_panels_equal_those_of_the_dequantized_weight) {
  check_prepacked_panels_equal_those_of_the_dequantized_weight(WeightType::Q4_0);
}
TEST(q4_k_prepacked_panels_equal_those_of_the_dequantized_weight) {
  check_prepacked_panels_equal_those_of_the_dequantized_weight(WeightType::Q4_K);
}

TEST(q8_0_weights_with_inputs_not_a_multiple_of_32_are_refused) {
  check_weights_with_inputs_not_a_multiple_of_32_are_refused(WeightType::Q8_0);
}
TEST(q4_0_weights_with_inputs_not_a_multiple_of_32_are_refused) {
  check_weights_with_inputs_not_a_multiple_of_32_are_refused(WeightType::Q4_0);
}
TEST(q4_k_weights_with_inputs_not_a_multiple_of_256_are_refused) {
  check_weights_with_inputs_not_a_multiple_of_32_are_refused(WeightType::Q4_K);
}

TEST(q8_0_multi_adapter_forward_rounds_x_for_the_base_only) {
  check_multi_adapter_forward_rounds_x_for_the_base_only(WeightType::Q8_0);
}
TEST(q4_0_multi_adapter_forward_rounds_x_for_the_base_only) {
  check_multi_adapter_forward_rounds_x_for_the_base_only(WeightType::Q4_0);
}
TEST(q4_k_multi_adapter_forward_rounds_x_for_the_base_only) {
  check_multi_adapter_forward_rounds_x_for_the_base_only(WeightType::Q4_K);
}

TEST(shared_input_products_round_x_per_weight_type_q4_k_q8_0_and_f32_together) {
  // One x for three weights, as q/k/v or gate/up share it in a layer of a mixed file: a Q4_K weight
  // sees x rounded to Q8_K, a Q8_0 weight x rounded to Q8_0, an f32 weight x itself (decode GEMV and
  // prefill GEMM alike), each with its own LoRA term.
  const int64_t in = 512, out = 70, rank = 4;
  const QuantizedWeight q4_k = make_weight(WeightType::Q4_K, out, in, 41);
  const QuantizedWeight q8_0 = make_weight(WeightType::Q8_0, out, in, 42);
  const std::vector<float> f32_values = random_vector(out * in, 43);
  const std::vector<double> f32_reference(f32_values.begin(), f32_values.end());
  const std::vector<float> a = random_vector(rank * in, 44), b = random_vector(out * rank, 45);
  for (int64_t tokens : {1, 3, 37}) {
    const std::vector<float> x = random_vector(tokens * in, 46);
    std::vector<float> y_q4_k(static_cast<size_t>(tokens * out)), y_q8_0(y_q4_k.size()), y_f32(y_q4_k.size());
    const LoraMatmulOutput outputs[] = {
        {y_q4_k.data(), q4_k.view(), a.data(), b.data(), out, rank, 0.5f},
        {y_q8_0.data(), q8_0.view(), a.data(), b.data(), out, rank, 0.5f},
        {y_f32.data(), WeightView{f32_values.data(), WeightType::F32}, a.data(), b.data(), out, rank, 0.5f},
    };
    lora_matmul_forward_shared_input(outputs, 3, x.data(), tokens, in);
    check_all_close(y_q4_k, reference_forward(WeightType::Q4_K, x, q4_k.values, a, b, tokens, in, out, rank, 0.5), 1e-5);
    check_all_close(y_q8_0, reference_forward(WeightType::Q8_0, x, q8_0.values, a, b, tokens, in, out, rank, 0.5), 1e-5);
    // The f32 weight: x as it is (reference_forward rounds x, so the plain product here).
    std::vector<double> expected(static_cast<size_t>(tokens * out), 0.0);
    for (int64_t t = 0; t < tokens; ++t) {
      std::vector<double> u(static_cast<size_t>(rank), 0.0);
      for (int64_t j = 0; j < rank; ++j)
        for (int64_t i = 0; i < in; ++i) u[j] += 0.5 * x[t * in + i] * a[j * in + i];
      for (int64_t o = 0; o < out; ++o) {
        double sum = 0;
        for (int64_t i = 0; i < in; ++i) sum += static_cast<double>(x[t * in + i]) * f32_reference[o * in + i];
        for (int64_t j = 0; j < rank; ++j) sum += u[j] * b[o * rank + j];
        expected[t * out + o] = sum;
      }
    }
    check_all_close(y_f32, expected, 1e-5);
  }
}
