// The fused LoRA matmul, its backward, the matmul gradients and the multi-adapter forward against
// plain double-precision loops, over odd shapes, f32 and bf16 weights and every ISA table.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "ops/common/bf16.h"
#include "ops/cpu/gemm.h"
#include "ops/cpu/gemm_bf16.h"
#include "ops/cpu/kernel_table.h"
#include "ops/cpu/lora_matmul.h"
#include "reference.h"
#include "runtime/errors.h"
#include "runtime/thread_pool.h"
#include "error_code.h"
#include "test_harness.h"

using namespace pillow;
using namespace pillow_test;

namespace {

using Matrix = std::vector<double>;

// Weight values as the kernel sees them (bf16 rounded when the weight is bf16).
std::vector<float> effective_weight(const std::vector<float>& w, WeightType type) {
  if (type == WeightType::F32) return w;
  std::vector<float> out(w.size());
  for (size_t i = 0; i < w.size(); ++i) out[i] = bf16_to_f32(f32_to_bf16(w[i]));
  return out;
}

std::vector<uint16_t> to_bf16(const std::vector<float>& w) {
  std::vector<uint16_t> out(w.size());
  for (size_t i = 0; i < w.size(); ++i) out[i] = f32_to_bf16(w[i]);
  return out;
}

// c[m, n] = Σ_k A(m, k)·B(k, n) with explicit element accessors.
template <typename A, typename B>
Matrix product(int64_t m, int64_t n, int64_t k, A a, B b) {
  Matrix c(static_cast<size_t>(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t p = 0; p < k; ++p) acc += a(i, p) * b(p, j);
      c[i * n + j] = acc;
    }
  return c;
}

void check_close(const std::vector<float>& actual, const Matrix& expected, double tolerance, const std::string& what) {
  CHECK(actual.size() == expected.size());
  int failures = 0;
  for (size_t i = 0; i < actual.size() && failures < 3; ++i) {
    const double bound = tolerance * (1.0 + std::fabs(expected[i]));
    if (!(std::fabs(actual[i] - expected[i]) <= bound)) {
      std::fprintf(stderr, "  %s[%zu] = %.9g, expected %.9g\n", what.c_str(), i, actual[i], expected[i]);
      ++failures;
    }
  }
  CHECK(failures == 0);
}

struct LoraCase {
  int64_t tokens, in, out, rank;
  WeightType type;
  float scale;
};

void check_lora_case(const LoraCase& c, uint32_t seed, double tolerance = 2e-5) {
  const int64_t T = c.tokens, I = c.in, O = c.out, R = c.rank;
  auto x = random_vector(T * I, seed);
  auto w = random_vector(O * I, seed + 1);
  auto a = random_vector(R * I, seed + 2);
  auto b = random_vector(O * R, seed + 3);
  auto dy = random_vector(T * O, seed + 4);
  auto w_bf16 = to_bf16(w);
  const WeightView view{c.type == WeightType::F32 ? static_cast<const void*>(w.data()) : w_bf16.data(), c.type};
  auto we = effective_weight(w, c.type);
  const double s = c.scale;
  const std::string label = "T=" + std::to_string(T) + " in=" + std::to_string(I) + " out=" + std::to_string(O) +
                            " r=" + std::to_string(R) + (c.type == WeightType::BF16 ? " bf16" : " f32");

  // u = x·Aᵀ [T, R], g = dy·B [T, R]
  Matrix u = product(T, R, I, [&](int64_t t, int64_t k) { return double(x[t * I + k]); },
                     [&](int64_t k, int64_t j) { return double(a[j * I + k]); });
  Matrix g = product(T, R, O, [&](int64_t t, int64_t o) { return double(dy[t * O + o]); },
                     [&](int64_t o, int64_t j) { return double(b[o * R + j]); });
  // A bf16 W's GEMM form runs on BF16 dot products where the CPU has them (and PILLOW_BF16_DOT is
  // not off): x is then rounded to bf16 for the base product, and the reference rounds it too.
  const bool dot = c.type == WeightType::BF16 && T > kLoraGemvMaxTokens && gemm_bf16_dot_available();
  const std::vector<float> xe = dot ? effective_weight(x, WeightType::BF16) : x;
  Matrix y = product(T, O, I, [&](int64_t t, int64_t k) { return double(xe[t * I + k]); },
                     [&](int64_t k, int64_t o) { return double(we[o * I + k]); });
  Matrix delta = product(T, O, R, [&](int64_t t, int64_t j) { return u[t * R + j]; },
                         [&](int64_t j, int64_t o) { return double(b[o * R + j]); });
  for (size_t i = 0; i < y.size(); ++i) y[i] += s * delta[i];
  Matrix dx = product(T, I, O, [&](int64_t t, int64_t o) { return double(dy[t * O + o]); },
                      [&](int64_t o, int64_t k) { return double(we[o * I + k]); });
  Matrix dx_lora = product(T, I, R, [&](int64_t t, int64_t j) { return g[t * R + j]; },
                           [&](int64_t j, int64_t k) { return double(a[j * I + k]); });
  for (size_t i = 0; i < dx.size(); ++i) dx[i] += s * dx_lora[i];
  Matrix da = product(R, I, T, [&](int64_t j, int64_t t) { return s * g[t * R + j]; },
                      [&](int64_t t, int64_t k) { return double(x[t * I + k]); });
  Matrix db = product(O, R, T, [&](int64_t o, int64_t t) { return s * dy[t * O + o]; },
                      [&](int64_t t, int64_t j) { return u[t * R + j]; });

  std::vector<float> y_out(T * O, 7.0f), dx_out(T * I, 7.0f), da_out(R * I, 7.0f), db_out(O * R, 7.0f);
  lora_matmul_forward(y_out.data(), x.data(), view, a.data(), b.data(), T, I, O, R, c.scale);
  check_close(y_out, y, tolerance, "y " + label);
  lora_matmul_backward(dx_out.data(), da_out.data(), db_out.data(), dy.data(), x.data(), view, a.data(), b.data(), T,
                       I, O, R, c.scale);
  check_close(dx_out, dx, tolerance, "dx " + label);
  check_close(da_out, da, tolerance, "da " + label);
  check_close(db_out, db, tolerance, "db " + label);
}

}  // namespace

TEST(lora_forward_and_backward_match_reference_on_odd_shapes) {
  uint32_t seed = 100;
  for (int64_t tokens : {1L, 3L, 17L})
    for (int64_t in : {1L, 7L, 65L})
      for (int64_t out : {1L, 7L, 33L})
        for (int64_t rank : {1L, 7L})
          for (WeightType type : {WeightType::F32, WeightType::BF16}) {
            check_lora_case({tokens, in, out, rank, type, 0.5f}, seed);
            seed += 5;
          }
}

TEST(lora_large_rank_and_block_crossing_shapes) {
  // M and N cross the row blocks and the column chunks, on several threads. Sums of ~600
  // unit-size products carry ~1e-5 of f32 rounding, so the bound is the 1e-4 relative.
  check_lora_case({64, 300, 300, 256, WeightType::F32, 0.125f}, 7, 1e-4);
  check_lora_case({70, 513, 130, 64, WeightType::BF16, 2.0f}, 9, 1e-4);
  // Decode (T <= 4): 300 rows are 64-row blocks, then 16-row tail blocks (the last 128 rows).
  check_lora_case({1, 200, 300, 5, WeightType::F32, 0.5f}, 15);
  check_lora_case({3, 200, 300, 5, WeightType::BF16, 0.5f}, 17);
}

TEST(lora_k_blocks_shared_packing_and_derived_columns_crossing_a_block) {
  // K = 2100 + 20 is two K blocks of 1060 (the boundary inside x), on several threads, with the
  // last items cut by rows; then K = 1000 + 1100, whose block boundary (1050) falls inside the
  // LoRA columns that the GEMM derives from x's packed panels. Bound: ~2000-term f32 sums.
  check_lora_case({100, 2100, 200, 20, WeightType::F32, 0.5f}, 11, 2e-4);
  check_lora_case({20, 1000, 64, 1100, WeightType::BF16, 0.25f}, 13, 2e-4);
}

TEST(lora_bf16_weights_on_the_widening_path) {
  // PILLOW_BF16_DOT=off: bf16 W widened to f32 in the f32 GEMM, the path of every CPU without
  // AVX512-BF16, checked here on those that have it too.
  setenv("PILLOW_BF16_DOT", "off", 1);
  check_lora_case({17, 65, 33, 7, WeightType::BF16, 0.5f}, 21);
  check_lora_case({70, 513, 130, 64, WeightType::BF16, 2.0f}, 9, 1e-4);
  check_lora_case({20, 1000, 64, 1100, WeightType::BF16, 0.25f}, 13, 2e-4);
  unsetenv("PILLOW_BF16_DOT");
}

TEST(lora_without_adapter_is_the_base_product) {
  const int64_t T = 5, I = 9, O = 11;
  auto x = random_vector(T * I, 1);
  auto w = random_vector(O * I, 2);
  std::vector<float> y(T * O), dx(T * I);
  lora_matmul_forward(y.data(), x.data(), WeightView{w.data(), WeightType::F32}, nullptr, nullptr, T, I, O, 0, 1.0f);
  auto expected = reference_matmul(x, w, T, I, O);
  for (size_t i = 0; i < y.size(); ++i) CHECK_NEAR(y[i], expected[i], 1e-5);
  auto dy = random_vector(T * O, 3);
  lora_matmul_backward(dx.data(), nullptr, nullptr, dy.data(), x.data(), WeightView{w.data(), WeightType::F32}, nullptr,
                       nullptr, T, I, O, 0, 1.0f);
  std::vector<float> dx_direct(T * I);
  matmul_backward_input(dx_direct.data(), dy.data(), WeightView{w.data(), WeightType::F32}, T, I, O);
  for (size_t i = 0; i < dx.size(); ++i) CHECK(dx[i] == dx_direct[i]);
}

TEST(matmul_backward_weight_and_input_match_reference) {
  for (int64_t T : {1L, 13L, 80L}) {
    const int64_t I = 37, O = 21;
    auto x = random_vector(T * I, 11);
    auto dy = random_vector(T * O, 12);
    auto w = random_vector(O * I, 13);
    std::vector<float> dw(O * I, 3.0f), dx(T * I, 3.0f);
    matmul_backward_weight(dw.data(), dy.data(), x.data(), T, I, O);
    matmul_backward_input(dx.data(), dy.data(), WeightView{w.data(), WeightType::F32}, T, I, O);
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < I; ++i) {
        double acc = 0;
        for (int64_t t = 0; t < T; ++t) acc += double(dy[t * O + o]) * x[t * I + i];
        CHECK_NEAR(dw[o * I + i], acc, 1e-5);
      }
    for (int64_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < I; ++i) {
        double acc = 0;
        for (int64_t o = 0; o < O; ++o) acc += double(dy[t * O + o]) * w[o * I + i];
        CHECK_NEAR(dx[t * I + i], acc, 1e-5);
      }
  }
}

TEST(gemm_micro_kernel_of_every_runnable_isa_matches_reference) {
  std::vector<const KernelTable*> tables = {&portable::kernel_table()};
  if (selected_isa() >= CpuIsa::Avx2) tables.push_back(&avx2::kernel_table());
  if (selected_isa() >= CpuIsa::Avx512) tables.push_back(&avx512::kernel_table());
  for (const KernelTable* table : tables) {
    const int mr = table->gemm_rows, nr = table->gemm_columns;
    const int64_t k = 19;
    auto a = random_vector(k * mr, 21);
    auto b = random_vector(k * nr, 22);
    // Every tile height (rows <= MR/2 take the half-height loop), full width and an edge width.
    for (int rows = mr; rows >= 1; --rows) {
      for (int cols : {nr, 3}) {
        for (bool accumulate : {false, true}) {
          std::vector<float> c(mr * nr, 1.5f);
          table->gemm_micro(c.data(), nr, a.data(), b.data(), k, rows, cols, accumulate);
          for (int r = 0; r < mr; ++r)
            for (int j = 0; j < nr; ++j) {
              const bool inside = r < rows && j < cols;
              double acc = 0;
              for (int64_t p = 0; p < k; ++p) acc += double(a[p * mr + r]) * b[p * nr + j];
              const double expected = inside ? (accumulate ? 1.5 + acc : acc) : 1.5;
              CHECK_NEAR(c[r * nr + j], expected, 1e-5);
            }
        }
      }
    }
  }
}

TEST(lora_multi_matches_per_row_single_adapter) {
  const int64_t T = 23, I = 41, O = 29;
  const int64_t ranks[3] = {1, 16, 5};
  const float scales[3] = {0.5f, 2.0f, -1.0f};
  std::vector<std::vector<float>> a_store, b_store;
  const float* a_ptr[3];
  const float* b_ptr[3];
  for (int j = 0; j < 3; ++j) {
    a_store.push_back(random_vector(ranks[j] * I, 50 + j));
    b_store.push_back(random_vector(O * ranks[j], 60 + j));
  }
  for (int j = 0; j < 3; ++j) {
    a_ptr[j] = a_store[j].data();
    b_ptr[j] = b_store[j].data();
  }
  auto x = random_vector(T * I, 70);
  auto w = random_vector(O * I, 71);
  auto w_bf16 = to_bf16(w);
  std::vector<int32_t> index(T);
  for (int64_t t = 0; t < T; ++t) index[t] = static_cast<int32_t>((t * 7) % 4) - 1;  // -1, 0, 1, 2 mixed
  for (WeightType type : {WeightType::F32, WeightType::BF16}) {
    const WeightView view{type == WeightType::F32 ? static_cast<const void*>(w.data()) : w_bf16.data(), type};
    std::vector<float> y(T * O, 9.0f);
    lora_matmul_multi_forward(y.data(), x.data(), view, a_ptr, b_ptr, ranks, scales, 3, index.data(), T, I, O);
    for (int64_t t = 0; t < T; ++t) {
      std::vector<float> single(O);
      const int j = index[t];
      lora_matmul_forward(single.data(), x.data() + t * I, view, j < 0 ? nullptr : a_ptr[j], j < 0 ? nullptr : b_ptr[j],
                          1, I, O, j < 0 ? 0 : ranks[j], j < 0 ? 1.0f : scales[j]);
      for (int64_t o = 0; o < O; ++o) CHECK_NEAR(y[t * O + o], single[o], 1e-5);
    }
  }
}

TEST(lora_rejects_bad_arguments_with_codes) {
  float buffer[64] = {};
  const WeightView view{buffer, WeightType::F32};
  CHECK(error_code_of([&] { lora_matmul_forward(buffer, buffer, view, buffer, buffer, 0, 2, 2, 1, 1.0f); }) == kErrorShape);
  CHECK(error_code_of([&] { lora_matmul_forward(buffer, buffer, view, buffer, buffer, 1, 2, 2, -1, 1.0f); }) == kErrorShape);
  CHECK(error_code_of([&] { lora_matmul_forward(buffer, buffer, view, buffer, buffer, 1, 2, 2, 1, NAN); }) == kErrorArgument);
  CHECK(error_code_of([&] { lora_matmul_forward(buffer, buffer, view, buffer, nullptr, 1, 2, 2, 1, 1.0f); }) == kErrorArgument);
  CHECK(error_code_of([&] {
          lora_matmul_forward(buffer, buffer, WeightView{buffer, static_cast<WeightType>(7)}, nullptr, nullptr, 1, 2, 2, 0, 1.0f);
        }) == kErrorArgument);
  CHECK(error_code_of([&] { lora_matmul_forward(buffer, buffer, view, nullptr, nullptr, int64_t{1} << 40, 1 << 20, 1 << 20, 0, 1.0f); }) ==
        kErrorShape);
  const int32_t bad_index[1] = {3};
  const int64_t ranks[1] = {1};
  const float scales[1] = {1.0f};
  const float* pointers[1] = {buffer};
  CHECK(error_code_of([&] {
          lora_matmul_multi_forward(buffer, buffer, view, pointers, pointers, ranks, scales, 1, bad_index, 1, 2, 2);
        }) == kErrorArgument);
}

TEST(gemv_kernel_of_every_runnable_isa_matches_reference) {
  std::vector<const KernelTable*> tables = {&portable::kernel_table()};
  if (selected_isa() >= CpuIsa::Avx2) tables.push_back(&avx2::kernel_table());
  if (selected_isa() >= CpuIsa::Avx512) tables.push_back(&avx512::kernel_table());
  // in = 37, 53, 64: the bf16 one-token kernel's 2-block step, its 1-block step, and its scalar
  // tail; in = 2061: its four-row kernel (rows of 2048 and more; 10 rows = two 4-row tiles, the
  // first prefetching the second, then two single rows) with a 13-weight tail. The f32 one-token
  // kernel: 32-weight steps, then 8-weight steps, then a scalar tail (37, 53), exact steps (64).
  for (const int64_t in : {int64_t{37}, int64_t{53}, int64_t{64}, int64_t{2061}}) {
    const double tolerance = in > 64 ? 1e-4 : 1e-5;  // ~2000-term f32 sums
    const int64_t out = 11;
    auto x = random_vector(4 * in, 31);
    auto w = random_vector(out * in, 32);
    auto w_bf16 = to_bf16(w);
    for (const KernelTable* table : tables) {
      for (int tokens = 1; tokens <= 4; ++tokens) {
        for (int type = 0; type < 2; ++type) {
          auto we = effective_weight(w, type == 0 ? WeightType::F32 : WeightType::BF16);
          std::vector<float> y(tokens * out, 2.0f);
          const void* data = type == 0 ? static_cast<const void*>(w.data()) : w_bf16.data();
          table->gemv(y.data(), out, x.data(), in, data, type, in, 1, out, tokens, true);  // rows 1.. accumulate
          for (int t = 0; t < tokens; ++t) {
            CHECK(y[t * out] == 2.0f);  // row 0 untouched
            for (int64_t o = 1; o < out; ++o) {
              double acc = 0;
              for (int64_t k = 0; k < in; ++k) acc += double(x[t * in + k]) * we[o * in + k];
              CHECK_NEAR(y[t * out + o], 2.0 + acc, tolerance);
            }
          }
        }
      }
    }
  }
}

TEST(parallel_for_dynamic_covers_every_index_once) {
  for (int threads : {1, 2, 3}) {
    set_thread_count(threads);
    for (int64_t step : {1L, 7L}) {
      std::vector<int> hits(1000, 0);
      parallel_for_dynamic(1000, step, 2, [&](int64_t begin, int64_t end) {
        CHECK(end - begin <= step);
        for (int64_t i = begin; i < end; ++i) hits[i] += 1;
      });
      bool all_once = true;
      for (int h : hits) all_once = all_once && h == 1;
      CHECK(all_once);
    }
  }
  set_thread_count(2);
}

TEST(lora_shared_input_equals_one_forward_per_output) {
  // q/k/v-like outputs of different heights (crossing the 64-row decode blocks), f32 and bf16
  // weights, with and without LoRA, in one call: each must equal its own lora_matmul_forward bit
  // for bit, for decode (T <= 4, one parallel region) and for the GEMM form (T > 4).
  const int64_t I = 200;
  const int64_t heights[3] = {130, 7, 200};  // the last one also gets the 16-row tail blocks
  const WeightType types[3] = {WeightType::F32, WeightType::BF16, WeightType::F32};
  const int64_t ranks[3] = {4, 0, 3};
  std::vector<std::vector<float>> w(3), a(3), b(3);
  std::vector<std::vector<uint16_t>> w_bf16(3);
  for (int i = 0; i < 3; ++i) {
    w[i] = random_vector(heights[i] * I, 40 + i);
    w_bf16[i] = to_bf16(w[i]);
    a[i] = random_vector(std::max<int64_t>(ranks[i], 1) * I, 50 + i);
    b[i] = random_vector(heights[i] * std::max<int64_t>(ranks[i], 1), 60 + i);
  }
  auto view = [&](int i) {
    return WeightView{types[i] == WeightType::F32 ? static_cast<const void*>(w[i].data()) : w_bf16[i].data(), types[i]};
  };
  for (int threads : {1, 2, 3}) {
    set_thread_count(threads);
    for (int64_t T : {int64_t{1}, int64_t{3}, int64_t{9}}) {
      auto x = random_vector(T * I, 70 + T);
      std::vector<std::vector<float>> together(3), alone(3);
      LoraMatmulOutput outputs[3];
      for (int i = 0; i < 3; ++i) {
        together[i].assign(T * heights[i], 7.0f);
        alone[i].assign(T * heights[i], 5.0f);
        outputs[i] = LoraMatmulOutput{together[i].data(), view(i), ranks[i] > 0 ? a[i].data() : nullptr,
                                      ranks[i] > 0 ? b[i].data() : nullptr, heights[i], ranks[i], 0.5f};
        lora_matmul_forward(alone[i].data(), x.data(), view(i), outputs[i].a, outputs[i].b, T, I, heights[i], ranks[i],
                            0.5f);
      }
      lora_matmul_forward_shared_input(outputs, 3, x.data(), T, I);
      for (int i = 0; i < 3; ++i) CHECK(together[i] == alone[i]);
    }
  }
  set_thread_count(2);
}

TEST(lora_shared_input_checks_every_output_before_any_work) {
  float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, w[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  float y0[2] = {9, 9}, y1[2] = {9, 9};
  const WeightView view{w, WeightType::F32};
  LoraMatmulOutput outputs[2] = {{y0, view, nullptr, nullptr, 2, 0, 1.0f}, {y1, view, w, nullptr, 2, 1, 1.0f}};
  CHECK(error_code_of([&] { lora_matmul_forward_shared_input(outputs, 2, x, 1, 8); }) == kErrorArgument);  // b missing
  CHECK(y0[0] == 9.0f && y0[1] == 9.0f);  // the valid first output was not computed either
  outputs[1] = LoraMatmulOutput{y1, view, nullptr, nullptr, 0, 0, 1.0f};
  CHECK(error_code_of([&] { lora_matmul_forward_shared_input(outputs, 2, x, 1, 8); }) == kErrorShape);
  CHECK(error_code_of([&] { lora_matmul_forward_shared_input(outputs, 0, x, 1, 8); }) == kErrorArgument);
  CHECK(error_code_of([&] { lora_matmul_forward_shared_input(nullptr, 1, x, 1, 8); }) == kErrorArgument);
}

TEST(parallel_for_back_to_back_and_after_idle_pauses) {
  // The pool's threads spin briefly between jobs and then sleep: jobs that follow each other at
  // once (spinning workers) and jobs after a pause longer than the spin (sleeping workers) must
  // both run every index exactly once.
  for (int threads : {2, 3}) {
    set_thread_count(threads);
    for (int round = 0; round < 400; ++round) {
      if (round % 100 == 99) std::this_thread::sleep_for(std::chrono::milliseconds(2));
      std::vector<int> hits(97, 0);
      parallel_for_dynamic(97, 5, 2, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) hits[i] += 1;
      });
      bool all_once = true;
      for (int h : hits) all_once = all_once && h == 1;
      CHECK(all_once);
    }
  }
  set_thread_count(2);
}
