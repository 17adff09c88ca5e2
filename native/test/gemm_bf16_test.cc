// The BF16 dot-product GEMM (ops/cpu/gemm_bf16.h) against double-precision loops: exactly the
// documented product (x rounded to bf16, bf16 W, f32 sums) to f32 accuracy, and within the bf16
// tolerance of the f32 product of unrounded x. On a CPU without AVX512-BF16 the tests say they
// were skipped, and only the argument checks run.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "ops/common/bf16.h"
#include "ops/cpu/gemm_bf16.h"
#include "ops/cpu/lora_matmul.h"
#include "reference.h"
#include "runtime/errors.h"
#include "runtime/thread_pool.h"
#include "test_harness.h"

using namespace pillow;
using namespace pillow_test;

namespace {

bool skipped(const char* test) {
  if (gemm_bf16_dot_available()) {
    std::printf("  %s: on the %s kernels\n", test, gemm_bf16_dot_kernel_name());
    return false;
  }
  std::printf(
      "  %s: skipped, no BF16 dot-product kernels here (they need AMX-BF16, or AVX512-BF16 that outruns f32 FMAs, "
      "with the AVX-512 kernels selected and PILLOW_BF16_DOT not off)\n",
      test);
  return true;
}

// Runs body on the default BF16 kernels (AMX where present) and on the vdpbf16ps ones
// (PILLOW_BF16_DOT=avx512_bf16, whether or not the probe would choose them here).
template <typename Body>
void on_every_bf16_kernel(const char* test, Body body) {
  for (const char* mode : {static_cast<const char*>(nullptr), "avx512_bf16"}) {
    if (mode != nullptr) setenv("PILLOW_BF16_DOT", mode, 1);
    if (!skipped(test)) body();
    if (mode != nullptr) unsetenv("PILLOW_BF16_DOT");
  }
}

std::vector<float> rounded(const std::vector<float>& values) {
  std::vector<float> out(values.size());
  for (size_t i = 0; i < values.size(); ++i) out[i] = bf16_to_f32(f32_to_bf16(values[i]));
  return out;
}

std::vector<uint16_t> bf16_bits(const std::vector<float>& values) {
  std::vector<uint16_t> out(values.size());
  for (size_t i = 0; i < values.size(); ++i) out[i] = f32_to_bf16(values[i]);
  return out;
}

}  // namespace

TEST(gemm_bf16_dot_is_the_product_of_bf16_rounded_x_and_bf16_w) {
  on_every_bf16_kernel("gemm_bf16_dot_is_the_product_of_bf16_rounded_x_and_bf16_w", [] {
  // Odd depths (a half pair at the end), depths of several K blocks (1100 = 2 blocks of 275
  // pairs), edge tiles in both directions, row counts of one half-height tile (<= 4).
  uint32_t seed = 500;
  for (int threads : {1, 2}) {
    set_thread_count(threads);
    for (int64_t rows : {1L, 4L, 13L, 130L})
      for (int64_t columns : {1L, 31L, 33L, 200L})
        for (int64_t depth : {1L, 3L, 17L, 64L, 1100L}) {
          if (rows * columns * depth > 4'000'000) continue;
          auto x = random_vector(rows * depth, seed);
          auto w = random_vector(columns * depth, seed + 1);
          auto w_bits = bf16_bits(w);
          auto expected = reference_matmul(rounded(x), rounded(w), rows, depth, columns);
          std::vector<float> c(rows * columns, 3.0f);
          const bool accumulate = seed % 2 == 0;
          gemm_bf16_dot(c.data(), columns, rows, columns, x.data(), depth, w_bits.data(), depth, depth, accumulate);
          // Sums of up to 1100 unit-size products in f32: ~1e-5 of rounding, bound 1e-4 relative.
          for (size_t i = 0; i < c.size(); ++i) CHECK_NEAR(c[i], expected[i] + (accumulate ? 3.0 : 0.0), 1e-4);
          seed += 2;
        }
  }
  set_thread_count(2);
  });
}

TEST(gemm_bf16_dot_is_within_bf16_tolerance_of_the_f32_product) {
  on_every_bf16_kernel("gemm_bf16_dot_is_within_bf16_tolerance_of_the_f32_product", [] {
  // The prefill shape of a 134M model's projection: x rounded to bf16 (8 significant bits, a
  // relative error up to 2^-9 each) moves the result by ~2^-9·|x||w|/√K per sum; the bound is
  // 1e-2 of the largest |y| (the tolerance bf16 weights are held to everywhere else).
  const int64_t rows = 96, columns = 256, depth = 768;
  auto x = random_vector(rows * depth, 77);
  auto w = random_vector(columns * depth, 78, 0.05f);
  auto w_bits = bf16_bits(w);
  auto expected = reference_matmul(x, rounded(w), rows, depth, columns);
  std::vector<float> c(rows * columns);
  gemm_bf16_dot(c.data(), columns, rows, columns, x.data(), depth, w_bits.data(), depth, depth, false);
  double largest = 0, worst = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    largest = std::max(largest, std::fabs(double(expected[i])));
    worst = std::max(worst, std::fabs(double(c[i]) - expected[i]));
  }
  std::printf("  bf16 dot products vs f32 product: max |Δ| / max |y| = %.2e\n", worst / largest);
  CHECK(worst <= 1e-2 * largest);
  CHECK(worst > 0);  // x was rounded: a result identical to f32 would mean the dot path did not run
  });
}

TEST(lora_forward_bf16_dot_path_and_widening_path_agree_within_bf16_tolerance) {
  if (skipped("lora_forward_bf16_dot_path_and_widening_path_agree_within_bf16_tolerance")) return;
  // The same fused LoRA forward with bf16 W through both paths: the dot products (default here)
  // and the f32 widening (PILLOW_BF16_DOT=off, what CPUs without the instructions run).
  const int64_t T = 40, I = 514, O = 300, R = 16;
  auto x = random_vector(T * I, 91);
  auto w = random_vector(O * I, 92, 0.05f);
  auto a = random_vector(R * I, 93, 0.05f);
  auto b = random_vector(O * R, 94, 0.05f);
  auto w_bits = bf16_bits(w);
  const WeightView view{w_bits.data(), WeightType::BF16};
  std::vector<float> dot(T * O), widened(T * O);
  lora_matmul_forward(dot.data(), x.data(), view, a.data(), b.data(), T, I, O, R, 2.0f);
  setenv("PILLOW_BF16_DOT", "off", 1);
  CHECK(!gemm_bf16_dot_available());
  lora_matmul_forward(widened.data(), x.data(), view, a.data(), b.data(), T, I, O, R, 2.0f);
  unsetenv("PILLOW_BF16_DOT");
  CHECK(gemm_bf16_dot_available());
  // The widened path against a double loop (f32 accuracy), the dot path against it (bf16 accuracy).
  auto base = reference_matmul(x, rounded(w), T, I, O);
  std::vector<float> u(T * R);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < R; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < I; ++k) acc += double(x[t * I + k]) * a[j * I + k];
      u[t * R + j] = float(acc);
    }
  double largest = 0, worst = 0;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t o = 0; o < O; ++o) {
      double expected = base[t * O + o];
      for (int64_t j = 0; j < R; ++j) expected += 2.0 * u[t * R + j] * b[o * R + j];
      CHECK_NEAR(widened[t * O + o], expected, 1e-4);
      largest = std::max(largest, std::fabs(expected));
      worst = std::max(worst, std::fabs(dot[t * O + o] - expected));
    }
  std::printf("  fused LoRA, bf16 dot path vs f32 reference: max |Δ| / max |y| = %.2e\n", worst / largest);
  CHECK(worst <= 1e-2 * largest);
}

#if defined(__x86_64__) && defined(__GNUC__)
// Another AMX user's tile configuration on this thread (llama.cpp's kernels share Node's worker
// threads with ours): tile 0 of 4 rows x 16 bytes only. Compiled for AMX here alone; run only where
// the AMX kernels were chosen, so the OS has granted the tiles.
// (Inline assembly with the whole 64 bytes as operand: GCC 12's intrinsics declare only 8 of them.)
__attribute__((target("amx-tile"))) void load_foreign_tile_config(uint8_t (&config)[64]) {
  std::memset(config, 0, 64);
  config[0] = 1;   // palette 1
  config[16] = 16;  // bytes_per_row[0] (little-endian uint16 at offset 16)
  config[48] = 4;   // rows[0]
  __asm__ volatile("ldtilecfg %0" ::"m"(config));
}
__attribute__((target("amx-tile"))) void store_tile_config(uint8_t (&config)[64]) {
  __asm__ volatile("sttilecfg %0" : "=m"(config));
}
__attribute__((target("amx-tile"))) void release_tiles() { _tile_release(); }
#endif

TEST(amx_products_leave_the_threads_tile_configuration_as_they_found_it) {
#if defined(__x86_64__) && defined(__GNUC__)
  const char* name = gemm_bf16_dot_kernel_name();
  if (name == nullptr || std::strcmp(name, "amx") != 0) {
    std::printf("  amx_products_leave_the_threads_tile_configuration_as_they_found_it: skipped, no AMX kernels here\n");
    return;
  }
  // Before the fix the kernel kept a per-thread "configured" flag: a product after another user's
  // configuration ran tdpbf16ps on the wrong tile shapes and the process died of SIGILL.
  const int64_t rows = 64, columns = 64, depth = 128;
  auto x = random_vector(rows * depth, 91);
  auto w = random_vector(columns * depth, 92);
  auto w_bits = bf16_bits(w);
  auto expected = reference_matmul(rounded(x), rounded(w), rows, depth, columns);
  for (int threads : {1, 2}) {
    set_thread_count(threads);
    for (int round = 0; round < 2; ++round) {
      alignas(64) uint8_t foreign[64], after[64];
      load_foreign_tile_config(foreign);
      std::vector<float> c(rows * columns);
      gemm_bf16_dot(c.data(), columns, rows, columns, x.data(), depth, w_bits.data(), depth, depth, false);
      for (size_t i = 0; i < c.size(); ++i) CHECK_NEAR(c[i], expected[i], 1e-4);
      store_tile_config(after);
      CHECK(std::memcmp(foreign, after, 64) == 0);
    }
    // And from unconfigured tiles: released again afterwards (sttilecfg stores 64 zero bytes).
    release_tiles();
    std::vector<float> c(rows * columns);
    gemm_bf16_dot(c.data(), columns, rows, columns, x.data(), depth, w_bits.data(), depth, depth, false);
    alignas(64) uint8_t after[64], zero[64] = {};
    store_tile_config(after);
    CHECK(std::memcmp(after, zero, 64) == 0);
    for (size_t i = 0; i < c.size(); ++i) CHECK_NEAR(c[i], expected[i], 1e-4);
  }
  set_thread_count(2);
#else
  std::printf("  amx_products_leave_the_threads_tile_configuration_as_they_found_it: skipped, not an x86-64 GCC/Clang build\n");
#endif
}

TEST(gemm_bf16_dot_rejects_bad_arguments_before_any_work) {
  float c[4] = {0, 0, 0, 0};
  const float x[4] = {1, 2, 3, 4};
  const uint16_t w[4] = {0x3f80, 0x3f80, 0x3f80, 0x3f80};
  auto code = [](auto call) -> std::string {
    try {
      call();
    } catch (const PillowError& e) {
      return e.code();
    }
    return "none";
  };
  // Without the instructions every call is refused with E_ARGUMENT too, never run.
  CHECK(code([&] { gemm_bf16_dot(nullptr, 2, 2, 2, x, 2, w, 2, 2, false); }) == kErrorArgument);
  CHECK(code([&] { gemm_bf16_dot(c, 2, 0, 2, x, 2, w, 2, 2, false); }) == kErrorArgument);
  CHECK(code([&] { gemm_bf16_dot(c, 1, 2, 2, x, 2, w, 2, 2, false); }) == kErrorArgument);
  CHECK(code([&] { gemm_bf16_dot(c, 2, 2, 2, x, 1, w, 2, 2, false); }) == kErrorArgument);
  if (gemm_bf16_dot_available()) {
    CHECK(code([&] { gemm_bf16_dot(c, 2, 2, 2, x, 2, w, 2, 2, false); }) == "none");
    CHECK_NEAR(c[0], 3.0, 1e-6);  // bf16(1)·1 + bf16(2)·1
  }
}
