#include <cstdlib>

#include "ops/cpu/kernel_table.h"
#include "ops/cpu/matmul.h"
#include "reference.h"
#include "runtime/errors.h"
#include "runtime/thread_pool.h"
#include "test_harness.h"

using namespace pillow;
using namespace pillow_test;

static void check_matmul_against_reference(const KernelTable* table, int64_t tokens, int64_t in_features,
                                           int64_t out_features, uint32_t seed) {
  auto x = random_vector(tokens * in_features, seed);
  auto w = random_vector(out_features * in_features, seed + 1);
  std::vector<float> out(tokens * out_features, -1.0f);
  if (table == nullptr) {
    matmul_forward(out.data(), x.data(), w.data(), tokens, in_features, out_features);
  } else {
    table->matmul_block(out.data(), x.data(), w.data(), in_features, out_features, 0, tokens, 0, out_features);
  }
  auto expected = reference_matmul(x, w, tokens, in_features, out_features);
  for (size_t i = 0; i < out.size(); ++i) CHECK_NEAR(out[i], expected[i], 1e-5);
}

TEST(matmul_odd_shapes_match_reference) {
  const int64_t dims[] = {1, 3, 17, 65, 257};
  uint32_t seed = 1;
  for (int64_t t : dims)
    for (int64_t in : {1L, 7L, 65L, 257L})
      for (int64_t out : {1L, 3L, 65L}) check_matmul_against_reference(nullptr, t, in, out, seed++);
}

TEST(matmul_every_isa_table_matches_reference) {
  // Each ISA's kernels are checked directly, as far as this CPU can run them.
  std::vector<const KernelTable*> tables = {&portable::kernel_table()};
  if (selected_isa() >= CpuIsa::Avx2) tables.push_back(&avx2::kernel_table());
  if (selected_isa() >= CpuIsa::Avx512) tables.push_back(&avx512::kernel_table());
  for (const KernelTable* table : tables) check_matmul_against_reference(table, 5, 37, 9, 42);
}

TEST(matmul_rejects_empty_dimensions) {
  float buffer[4] = {0, 0, 0, 0};
  bool threw = false;
  try {
    matmul_forward(buffer, buffer, buffer, 0, 2, 2);
  } catch (const PillowError& e) {
    threw = std::string(e.code()) == kErrorShape;
  }
  CHECK(threw);
}

TEST(thread_pool_covers_every_index_once_and_resizes) {
  for (int threads : {1, 2, 3}) {
    set_thread_count(threads);
    std::vector<int> hits(1000, 0);
    parallel_for(1000, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) hits[i] += 1;
    });
    bool all_once = true;
    for (int h : hits) all_once = all_once && h == 1;
    CHECK(all_once);
    CHECK(thread_count() == threads);
  }
}

TEST(thread_pool_propagates_exceptions) {
  set_thread_count(2);
  bool threw = false;
  try {
    parallel_for(100, 1, [](int64_t begin, int64_t) {
      if (begin == 0) throw_argument_error("boom");
    });
  } catch (const PillowError& e) {
    threw = std::string(e.what()) == "boom";
  }
  CHECK(threw);
}
