// The CUDA twins of the model ops against the CPU ops on small, odd shapes that span several
// blocks. Bit for bit where both sides do the same arithmetic in the same order (residual adds,
// lookups, scatters of distinct rows). Within stated tolerances otherwise: 1e-6 relative for the
// element-wise SwiGLU and AdamW (same formulas from ops/common, but the CPU runs them in its
// AVX2/AVX-512 clones, where the compiler contracts multiply-adds into FMAs and uses a vector
// exp), 1e-5 for f32 row reductions (row sums over a block, atomics, online softmax), 1e-4 for
// attention's backward (sums of T products accumulated in a different order).
#include <cmath>
#include <string>
#include <vector>

#include "cuda/cuda_test_support.h"
#include "ops/cpu/adamw.h"
#include "ops/cpu/attention.h"
#include "ops/cpu/bias.h"
#include "ops/cpu/cross_entropy.h"
#include "ops/cpu/embedding.h"
#include "ops/cpu/residual.h"
#include "ops/cpu/rmsnorm.h"
#include "ops/cpu/rope.h"
#include "ops/cpu/swiglu.h"
#include "ops/cuda/model_ops_cuda.h"
#include "reference.h"
#include "runtime/errors.h"
#include "test_harness.h"

using namespace pillow;
using namespace pillow_test;

TEST(cuda_swiglu_and_residual_match_cpu) {
  const int64_t count = 777;  // four blocks of 256, the last one partial
  const auto gate = random_vector(count, 1, 4.0f), up = random_vector(count, 2, 2.0f), dout = random_vector(count, 3);
  std::vector<float> out(count), dgate(count), dup(count);
  swiglu_forward(out.data(), gate.data(), up.data(), count);
  swiglu_backward(dgate.data(), dup.data(), dout.data(), gate.data(), up.data(), count);
  auto g = to_device(gate), u = to_device(up), d = to_device(dout);
  DeviceBuffer<float> o(count), dg(count), du(count);
  swiglu_forward_cuda(o.data(), g.data(), u.data(), count);
  swiglu_backward_cuda(dg.data(), du.data(), d.data(), g.data(), u.data(), count);
  CHECK(all_near(o.to_host(), out, 1e-6, "swiglu out"));
  CHECK(all_near(dg.to_host(), dgate, 1e-6, "swiglu dgate"));
  CHECK(all_near(du.to_host(), dup, 1e-6, "swiglu dup"));

  std::vector<float> sum(count), da = up, db = gate;
  residual_forward(sum.data(), gate.data(), up.data(), count);
  residual_backward(da.data(), db.data(), dout.data(), count);
  DeviceBuffer<float> s(count);
  auto dda = to_device(up), ddb = to_device(gate);
  residual_forward_cuda(s.data(), g.data(), u.data(), count);
  residual_backward_cuda(dda.data(), ddb.data(), d.data(), count);
  CHECK(all_equal(s.to_host(), sum, "residual out"));
  CHECK(all_equal(dda.to_host(), da, "residual da (accumulated)"));
  CHECK(all_equal(ddb.to_host(), db, "residual db (accumulated)"));
}

TEST(cuda_bias_matches_cpu_bit_for_bit) {
  const int64_t rows = 5, width = 301;  // 1505 elements: six blocks forward; two blocks of columns backward
  const auto y0 = random_vector(rows * width, 11), bias = random_vector(width, 12), dy = random_vector(rows * width, 13);
  const auto dbias0 = random_vector(width, 14);
  std::vector<float> y = y0, dbias = dbias0;
  bias_forward(y.data(), bias.data(), rows, width);
  bias_backward(dbias.data(), dy.data(), rows, width);
  auto device_y = to_device(y0), device_bias = to_device(bias), device_dy = to_device(dy), device_dbias = to_device(dbias0);
  bias_forward_cuda(device_y.data(), device_bias.data(), rows, width);
  bias_backward_cuda(device_dbias.data(), device_dy.data(), rows, width);
  CHECK(all_equal(device_y.to_host(), y, "bias forward"));
  CHECK(all_equal(device_dbias.to_host(), dbias, "bias backward (accumulated)"));
  bool refused = false;
  try {
    bias_forward_cuda(device_y.data(), device_bias.data(), 0, width);
  } catch (const PillowError& e) {
    refused = std::string(e.code()) == kErrorShape;
  }
  CHECK(refused);
}

TEST(cuda_embedding_matches_cpu) {
  const int64_t vocab = 11, hidden = 37, count = 9;
  const auto table = random_vector(vocab * hidden, 4);
  const std::vector<int32_t> distinct = {3, 0, 10, 7, 1, 5, 2, 9, 4};
  const std::vector<int32_t> repeated = {3, 3, 10, 3, 1, 10, 2, 9, 3};
  const auto dout = random_vector(count * hidden, 5);
  auto t = to_device(table), d = to_device(dout);
  for (const auto* tokens : {&distinct, &repeated}) {
    std::vector<float> out(count * hidden), dtable = random_vector(vocab * hidden, 6);
    auto device_dtable = to_device(dtable);
    embedding_forward(out.data(), tokens->data(), table.data(), count, vocab, hidden);
    embedding_backward(dtable.data(), dout.data(), tokens->data(), count, vocab, hidden);
    auto ids = to_device(*tokens);
    DeviceBuffer<float> o(count * hidden);
    embedding_forward_cuda(o.data(), ids.data(), t.data(), count, vocab, hidden);
    embedding_backward_cuda(device_dtable.data(), d.data(), ids.data(), count, vocab, hidden);
    CHECK(all_equal(o.to_host(), out, "embedding out"));
    // Distinct ids: one addition per element, exact. Repeated ids: atomics add in any order.
    CHECK(all_near(device_dtable.to_host(), dtable, tokens == &distinct ? 0.0 : 1e-6, "embedding dtable"));
  }
  std::vector<int32_t> bad = distinct;
  bad[4] = 11;
  auto ids = to_device(bad);
  DeviceBuffer<float> o(count * hidden);
  try {
    embedding_forward_cuda(o.data(), ids.data(), t.data(), count, vocab, hidden);
    CHECK(false);
  } catch (const PillowError& e) {
    CHECK(std::string(e.code()) == kErrorArgument);
    CHECK(std::string(e.what()).find("position 4") != std::string::npos);
  }
}

TEST(cuda_rmsnorm_matches_cpu) {
  const int64_t rows = 5, hidden = 301;  // hidden above one block's 256 threads
  const auto x = random_vector(rows * hidden, 7, 3.0f), weight = random_vector(hidden, 8), dout = random_vector(rows * hidden, 9);
  std::vector<float> out(rows * hidden), rstd(rows), dx = random_vector(rows * hidden, 10), dweight = random_vector(hidden, 11);
  auto device_dx = to_device(dx), device_dweight = to_device(dweight);
  rmsnorm_forward(out.data(), rstd.data(), x.data(), weight.data(), rows, hidden, 1e-5f);
  rmsnorm_backward(dx.data(), dweight.data(), dout.data(), x.data(), weight.data(), rstd.data(), rows, hidden);
  auto dxv = to_device(x), w = to_device(weight), d = to_device(dout);
  DeviceBuffer<float> o(rows * hidden), r(rows);
  rmsnorm_forward_cuda(o.data(), r.data(), dxv.data(), w.data(), rows, hidden, 1e-5f);
  rmsnorm_backward_cuda(device_dx.data(), device_dweight.data(), d.data(), dxv.data(), w.data(), r.data(), rows, hidden);
  CHECK(all_near(r.to_host(), rstd, 1e-5, "rmsnorm rstd"));
  CHECK(all_near(o.to_host(), out, 1e-5, "rmsnorm out"));
  CHECK(all_near(device_dx.to_host(), dx, 1e-5, "rmsnorm dx (accumulated)"));
  CHECK(all_near(device_dweight.to_host(), dweight, 1e-5, "rmsnorm dweight (accumulated)"));
}

TEST(cuda_rope_matches_cpu) {
  const int64_t rows = 6, heads = 3, head_dim = 10, positions = 16;
  std::vector<float> inv_freq(head_dim / 2), cos_table(positions * head_dim / 2), sin_table(positions * head_dim / 2);
  rope_inverse_frequencies(inv_freq.data(), head_dim, 10000.0, RopeScaling{});
  rope_tables(cos_table.data(), sin_table.data(), inv_freq.data(), positions, head_dim);
  const std::vector<int32_t> pos = {0, 1, 5, 15, 2, 9};
  const auto x = random_vector(rows * heads * head_dim, 12);
  std::vector<float> out(x.size()), dx(x.size());
  rope_forward(out.data(), x.data(), pos.data(), cos_table.data(), sin_table.data(), rows, heads, head_dim, positions);
  rope_backward(dx.data(), x.data(), pos.data(), cos_table.data(), sin_table.data(), rows, heads, head_dim, positions);
  auto p = to_device(pos);
  auto c = to_device(cos_table), s = to_device(sin_table), dxv = to_device(x);
  DeviceBuffer<float> o(x.size()), g(x.size());
  rope_forward_cuda(o.data(), dxv.data(), p.data(), c.data(), s.data(), rows, heads, head_dim, positions);
  rope_backward_cuda(g.data(), dxv.data(), p.data(), c.data(), s.data(), rows, heads, head_dim, positions);
  CHECK(all_near(o.to_host(), out, 1e-6, "rope out"));
  CHECK(all_near(g.to_host(), dx, 1e-6, "rope dx"));
  std::vector<int32_t> bad = pos;
  bad[3] = 16;
  auto b = to_device(bad);
  try {
    rope_forward_cuda(o.data(), dxv.data(), b.data(), c.data(), s.data(), rows, heads, head_dim, positions);
    CHECK(false);
  } catch (const PillowError& e) {
    CHECK(std::string(e.code()) == kErrorArgument);
  }
}

TEST(cuda_attention_matches_cpu_forward_with_a_kv_cache_and_backward) {
  // GQA: 4 query heads over 2 key/value heads, head_dim 20 (not a multiple of 32 lanes), 2 sequences.
  AttentionShape train{2, 7, 7, 7, 4, 2, 20};
  const int64_t q_size = 2 * 7 * 4 * 20, kv_size = 2 * 7 * 2 * 20;
  const auto q = random_vector(q_size, 13), k = random_vector(kv_size, 14), v = random_vector(kv_size, 15);
  const auto dout = random_vector(q_size, 16);
  std::vector<float> out(q_size), lse(2 * 4 * 7), dq(q_size), dk(kv_size), dv(kv_size);
  attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), train);
  attention_backward(dq.data(), dk.data(), dv.data(), dout.data(), q.data(), k.data(), v.data(), out.data(), lse.data(), train);
  auto dqv = to_device(q), dkv = to_device(k), dvv = to_device(v), dd = to_device(dout);
  DeviceBuffer<float> o(q_size), l(lse.size()), gq(q_size), gk(kv_size), gv(kv_size);
  attention_forward_cuda(o.data(), l.data(), dqv.data(), dkv.data(), dvv.data(), train);
  CHECK(all_near(o.to_host(), out, 1e-5, "attention out"));
  CHECK(all_near(l.to_host(), lse, 1e-5, "attention lse"));
  attention_backward_cuda(gq.data(), gk.data(), gv.data(), dd.data(), dqv.data(), dkv.data(), dvv.data(), o.data(), l.data(), train);
  CHECK(all_near(gq.to_host(), dq, 1e-4, "attention dq"));
  CHECK(all_near(gk.to_host(), dk, 1e-4, "attention dk"));
  CHECK(all_near(gv.to_host(), dv, 1e-4, "attention dv"));

  // Decode against a cache: 2 new queries over 5 cached keys in a cache of capacity 7, left padding.
  AttentionShape decode{2, 2, 5, 7, 4, 2, 20};
  const std::vector<int32_t> key_begin = {0, 2};
  decode.key_begin = key_begin.data();
  const auto q2 = random_vector(2 * 2 * 4 * 20, 17);
  std::vector<float> out2(q2.size());
  attention_forward(out2.data(), nullptr, q2.data(), k.data(), v.data(), decode);
  auto dq2 = to_device(q2);
  auto dkb = to_device(key_begin);
  decode.key_begin = dkb.data();
  DeviceBuffer<float> o2(q2.size());
  attention_forward_cuda(o2.data(), nullptr, dq2.data(), dkv.data(), dvv.data(), decode);
  CHECK(all_near(o2.to_host(), out2, 1e-5, "attention decode out"));
}

TEST(cuda_cross_entropy_matches_cpu_with_ignored_rows) {
  const int64_t rows = 4, vocab = 300;
  const auto logits = random_vector(rows * vocab, 18, 5.0f);
  const std::vector<int32_t> targets = {7, -100, 299, 0};
  std::vector<float> losses(rows), dlogits(rows * vocab);
  const int64_t counted = cross_entropy_forward(losses.data(), logits.data(), targets.data(), rows, vocab);
  cross_entropy_backward(dlogits.data(), logits.data(), targets.data(), 0.5f, rows, vocab);
  auto l = to_device(logits);
  auto t = to_device(targets);
  DeviceBuffer<float> dl(rows), dd(rows * vocab);
  CHECK(cross_entropy_forward_cuda(dl.data(), l.data(), t.data(), rows, vocab) == counted);
  cross_entropy_backward_cuda(dd.data(), l.data(), t.data(), 0.5f, rows, vocab);
  CHECK(all_near(dl.to_host(), losses, 1e-5, "cross-entropy losses"));
  CHECK(all_near(dd.to_host(), dlogits, 1e-5, "cross-entropy dlogits"));
  std::vector<int32_t> bad = targets;
  bad[2] = 300;
  auto b = to_device(bad);
  try {
    cross_entropy_forward_cuda(dl.data(), l.data(), b.data(), rows, vocab);
    CHECK(false);
  } catch (const PillowError& e) {
    CHECK(std::string(e.code()) == kErrorArgument);
  }
}

TEST(cuda_adamw_and_the_gradient_norm_match_cpu) {
  const int64_t sizes[2] = {300, 17};
  std::vector<std::vector<float>> param, grad, m, v;
  for (int t = 0; t < 2; ++t) {
    param.push_back(random_vector(sizes[t], 20 + t));
    grad.push_back(random_vector(sizes[t], 30 + t));
    m.push_back(random_vector(sizes[t], 40 + t, 0.1f));
    std::vector<float> second = random_vector(sizes[t], 50 + t, 0.01f);
    for (float& x : second) x = std::fabs(x);
    v.push_back(second);
  }
  AdamWOptions options{};
  options.learning_rate = 1e-3f;
  options.step = 3;
  options.gradient_scale = 0.7f;
  std::vector<DeviceBuffer<float>> dp, dg, dm, dv;
  std::vector<AdamWTensor> cpu_tensors, cuda_tensors;
  std::vector<std::vector<float>> cpu_param = param, cpu_m = m, cpu_v = v;
  for (int t = 0; t < 2; ++t) {
    dp.push_back(to_device(param[t]));
    dg.push_back(to_device(grad[t]));
    dm.push_back(to_device(m[t]));
    dv.push_back(to_device(v[t]));
    const float decay = t == 0 ? 0.01f : 0.0f;
    cpu_tensors.push_back({cpu_param[t].data(), grad[t].data(), cpu_m[t].data(), cpu_v[t].data(), sizes[t], decay});
    cuda_tensors.push_back({dp[t].data(), dg[t].data(), dm[t].data(), dv[t].data(), sizes[t], decay});
  }
  adamw_update(cpu_tensors.data(), 2, options);
  adamw_update_cuda(cuda_tensors.data(), 2, options);
  for (int t = 0; t < 2; ++t) {
    CHECK(all_near(dp[t].to_host(), cpu_param[t], 1e-6, "adamw param"));
    CHECK(all_near(dm[t].to_host(), cpu_m[t], 1e-6, "adamw m"));
    CHECK(all_near(dv[t].to_host(), cpu_v[t], 1e-6, "adamw v"));
  }
  const float* host_grads[2] = {grad[0].data(), grad[1].data()};
  const float* device_grads[2] = {dg[0].data(), dg[1].data()};
  CHECK_NEAR(gradient_squared_norm_cuda(device_grads, sizes, 2), gradient_squared_norm(host_grads, sizes, 2), 1e-6);
}
