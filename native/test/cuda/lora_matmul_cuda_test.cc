// The CUDA matmul and LoRA matmul family against the CPU ops: f32 and bf16 weights, shapes that are
// not multiples of the 64×64 tiles and span several blocks, rank 0 and multi-adapter batches with
// base-only rows. Products accumulate in f32 in a different order on the two sides, so results
// agree within 2e-5 relative (K ≤ 130 here; the CPU's own tests hold it to a double reference).
#include <cstdlib>
#include <string>
#include <vector>

#include "cuda/cuda_test_support.h"
#include "ops/common/bf16.h"
#include "ops/cpu/lora_matmul.h"
#include "ops/cpu/matmul.h"
#include "ops/cuda/lora_matmul_cuda.h"
#include "ops/cuda/matmul_cuda.h"
#include "reference.h"
#include "runtime/errors.h"
#include "test_harness.h"

using namespace pillow;
using namespace pillow_test;

namespace {

constexpr double kTolerance = 2e-5;

std::vector<uint16_t> to_bf16(const std::vector<float>& values) {
  std::vector<uint16_t> bits(values.size());
  for (size_t i = 0; i < values.size(); ++i) bits[i] = f32_to_bf16(values[i]);
  return bits;
}

}  // namespace

TEST(cuda_matmul_matches_cpu) {
  const int64_t tokens = 19, in_features = 45, out_features = 70;  // 16×16 tiles, partial at every edge
  const auto x = random_vector(tokens * in_features, 1), w = random_vector(out_features * in_features, 2);
  std::vector<float> y(tokens * out_features);
  matmul_forward(y.data(), x.data(), w.data(), tokens, in_features, out_features);
  auto dx = to_device(x), dw = to_device(w);
  DeviceBuffer<float> dy(tokens * out_features);
  matmul_forward_cuda(dy.data(), dx.data(), dw.data(), tokens, in_features, out_features);
  CHECK(all_near(dy.to_host(), y, kTolerance, "matmul y"));

  // The weight gradients: dW = dyᵀ·x and dX = dy·W.
  const auto g = random_vector(tokens * out_features, 3);
  std::vector<float> grad_w(out_features * in_features), grad_x(tokens * in_features);
  matmul_backward_weight(grad_w.data(), g.data(), x.data(), tokens, in_features, out_features);
  matmul_backward_input(grad_x.data(), g.data(), WeightView{w.data(), WeightType::F32}, tokens, in_features, out_features);
  auto dg = to_device(g);
  DeviceBuffer<float> gw(out_features * in_features), gx(tokens * in_features);
  matmul_backward_weight_cuda(gw.data(), dg.data(), dx.data(), tokens, in_features, out_features);
  matmul_backward_input_cuda(gx.data(), dg.data(), WeightView{dw.data(), WeightType::F32}, tokens, in_features, out_features);
  CHECK(all_near(gw.to_host(), grad_w, kTolerance, "matmul dW"));
  CHECK(all_near(gx.to_host(), grad_x, kTolerance, "matmul dX"));
}

TEST(cuda_lora_matmul_forward_and_backward_match_cpu_for_f32_and_bf16_weights) {
  // The device widens bf16 weights to f32: the CPU reference does too (PILLOW_BF16_DOT=off), where it
  // would otherwise round x to bf16 for BF16 dot products (AMX, AVX512-BF16; ops/cpu/gemm_bf16.h).
  setenv("PILLOW_BF16_DOT", "off", 1);
  struct RestoreBf16Dot {
    ~RestoreBf16Dot() { unsetenv("PILLOW_BF16_DOT"); }
  } restore;
  const int64_t tokens = 67, in_features = 130, out_features = 71, rank = 5;  // 2×3 tiles of 64
  const float scale = 1.75f;
  const auto x = random_vector(tokens * in_features, 4), w = random_vector(out_features * in_features, 5);
  const auto a = random_vector(rank * in_features, 6), b = random_vector(out_features * rank, 7);
  const auto dy = random_vector(tokens * out_features, 8);
  const auto w_bf16 = to_bf16(w);
  auto device_x = to_device(x), device_w = to_device(w), device_a = to_device(a), device_b = to_device(b);
  auto device_dy = to_device(dy);
  auto device_w_bf16 = to_device(w_bf16);
  for (int bf16 = 0; bf16 < 2; ++bf16) {
    const WeightView host_w = bf16 ? WeightView{w_bf16.data(), WeightType::BF16} : WeightView{w.data(), WeightType::F32};
    const WeightView cuda_w = bf16 ? WeightView{device_w_bf16.data(), WeightType::BF16} : WeightView{device_w.data(), WeightType::F32};
    for (const int64_t r : {rank, int64_t{0}}) {
      const float* ha = r ? a.data() : nullptr;
      const float* hb = r ? b.data() : nullptr;
      const float* da_in = r ? device_a.data() : nullptr;
      const float* db_in = r ? device_b.data() : nullptr;
      std::vector<float> y(tokens * out_features);
      lora_matmul_forward(y.data(), x.data(), host_w, ha, hb, tokens, in_features, out_features, r, scale);
      DeviceBuffer<float> cy(tokens * out_features);
      lora_matmul_forward_cuda(cy.data(), device_x.data(), cuda_w, da_in, db_in, tokens, in_features, out_features, r, scale);
      CHECK(all_near(cy.to_host(), y, kTolerance, bf16 ? "lora y (bf16 W)" : "lora y"));

      std::vector<float> dx(tokens * in_features), da(rank * in_features), db(out_features * rank);
      lora_matmul_backward(dx.data(), r ? da.data() : nullptr, r ? db.data() : nullptr, dy.data(), x.data(), host_w, ha, hb,
                           tokens, in_features, out_features, r, scale);
      DeviceBuffer<float> cdx(tokens * in_features), cda(rank * in_features), cdb(out_features * rank);
      lora_matmul_backward_cuda(cdx.data(), r ? cda.data() : nullptr, r ? cdb.data() : nullptr, device_dy.data(), device_x.data(),
                                cuda_w, da_in, db_in, tokens, in_features, out_features, r, scale);
      CHECK(all_near(cdx.to_host(), dx, kTolerance, "lora dx"));
      if (r) {
        CHECK(all_near(cda.to_host(), da, kTolerance, "lora da"));
        CHECK(all_near(cdb.to_host(), db, kTolerance, "lora db"));
      }
    }
  }
}

TEST(cuda_lora_matmul_shared_input_matches_cpu) {
  const int64_t tokens = 9, in_features = 33;
  const auto x = random_vector(tokens * in_features, 9);
  const int64_t outs[2] = {17, 40}, ranks[2] = {3, 0};
  std::vector<std::vector<float>> w, a, b, y(2);
  std::vector<DeviceBuffer<float>> dw, da, db, dy;
  std::vector<LoraMatmulOutput> host_outputs, device_outputs;
  for (int i = 0; i < 2; ++i) {
    w.push_back(random_vector(outs[i] * in_features, 10 + i));
    a.push_back(random_vector(std::max<int64_t>(ranks[i], 1) * in_features, 20 + i));
    b.push_back(random_vector(outs[i] * std::max<int64_t>(ranks[i], 1), 30 + i));
    y[i].resize(outs[i] * tokens);
    dw.push_back(to_device(w[i]));
    da.push_back(to_device(a[i]));
    db.push_back(to_device(b[i]));
    dy.emplace_back(outs[i] * tokens);
  }
  for (int i = 0; i < 2; ++i) {
    host_outputs.push_back({y[i].data(), WeightView{w[i].data(), WeightType::F32}, ranks[i] ? a[i].data() : nullptr,
                            ranks[i] ? b[i].data() : nullptr, outs[i], ranks[i], 0.5f});
    device_outputs.push_back({dy[i].data(), WeightView{dw[i].data(), WeightType::F32}, ranks[i] ? da[i].data() : nullptr,
                              ranks[i] ? db[i].data() : nullptr, outs[i], ranks[i], 0.5f});
  }
  lora_matmul_forward_shared_input(host_outputs.data(), 2, x.data(), tokens, in_features);
  auto dx = to_device(x);
  lora_matmul_forward_shared_input_cuda(device_outputs.data(), 2, dx.data(), tokens, in_features);
  for (int i = 0; i < 2; ++i) CHECK(all_near(dy[i].to_host(), y[i], kTolerance, "shared-input y"));
}

TEST(cuda_lora_matmul_multi_matches_cpu_with_base_only_rows) {
  const int64_t tokens = 13, in_features = 50, out_features = 66;
  const auto x = random_vector(tokens * in_features, 40), w = random_vector(out_features * in_features, 41);
  const int64_t ranks[3] = {2, 7, 4};
  const float scales[3] = {1.0f, 0.25f, 2.0f};
  std::vector<std::vector<float>> a, b;
  std::vector<DeviceBuffer<float>> da, db;
  std::vector<const float*> ha, hb, ca, cb;
  for (int j = 0; j < 3; ++j) {
    a.push_back(random_vector(ranks[j] * in_features, 50 + j));
    b.push_back(random_vector(out_features * ranks[j], 60 + j));
    da.push_back(to_device(a[j]));
    db.push_back(to_device(b[j]));
    ha.push_back(a[j].data());
    hb.push_back(b[j].data());
    ca.push_back(da[j].data());
    cb.push_back(db[j].data());
  }
  const std::vector<int32_t> index = {0, -1, 2, 2, 1, 0, -1, 1, 1, 2, 0, -1, 1};
  std::vector<float> y(tokens * out_features);
  lora_matmul_multi_forward(y.data(), x.data(), WeightView{w.data(), WeightType::F32}, ha.data(), hb.data(), ranks, scales, 3,
                            index.data(), tokens, in_features, out_features);
  auto dx = to_device(x), dw = to_device(w);
  auto di = to_device(index);
  DeviceBuffer<float> cy(tokens * out_features);
  lora_matmul_multi_forward_cuda(cy.data(), dx.data(), WeightView{dw.data(), WeightType::F32}, ca.data(), cb.data(), ranks, scales,
                                 3, di.data(), tokens, in_features, out_features);
  CHECK(all_near(cy.to_host(), y, kTolerance, "multi y"));
  std::vector<int32_t> bad = index;
  bad[5] = 3;
  auto dbad = to_device(bad);
  try {
    lora_matmul_multi_forward_cuda(cy.data(), dx.data(), WeightView{dw.data(), WeightType::F32}, ca.data(), cb.data(), ranks,
                                   scales, 3, dbad.data(), tokens, in_features, out_features);
    CHECK(false);
  } catch (const PillowError& e) {
    CHECK(std::string(e.code()) == kErrorArgument);
    CHECK(std::string(e.what()).find("adapterIndex[5]") != std::string::npos);
  }
}

TEST(cuda_refuses_q8_0_q4_0_and_q4_k_weights_before_any_kernel) {
  // Q8_0, Q4_0 and Q4_K run on the CPU only: every CUDA entry point that reads W says so with
  // E_UNSUPPORTED. 256 inputs: whole blocks of every type (8 of 32, one Q4_K super-block).
  const int64_t tokens = 2, in_features = 256, out_features = 3;
  DeviceBuffer<float> y(tokens * out_features), x(tokens * in_features), dx(tokens * in_features),
      dy(tokens * out_features);
  std::vector<uint8_t> blocks(static_cast<size_t>(out_features * 8 * 34), 0);
  auto code = [](auto&& call) -> std::string {
    try {
      call();
    } catch (const PillowError& e) {
      return e.code();
    }
    return "none";
  };
  for (WeightType type : {WeightType::Q8_0, WeightType::Q4_0, WeightType::Q4_K}) {
    const WeightView w{blocks.data(), type};
    CHECK(code([&] {
            lora_matmul_forward_cuda(y.data(), x.data(), w, nullptr, nullptr, tokens, in_features, out_features, 0,
                                     1.0f);
          }) == kErrorUnsupported);
    CHECK(code([&] { matmul_backward_input_cuda(dx.data(), dy.data(), w, tokens, in_features, out_features); }) ==
          kErrorUnsupported);
  }
}
