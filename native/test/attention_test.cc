// Causal GQA attention against a plain double-precision reference: the forward (training shape, a
// KV-cache prefill after earlier positions, left padding) and the backward's dq, dk, dv, at
// sequence lengths below, at and across the blocked path's 48-row query blocks.
#include <cmath>
#include <vector>

#include "ops/cpu/attention.h"
#include "reference.h"
#include "runtime/thread_pool.h"
#include "test_harness.h"

using namespace pillow;
using namespace pillow_test;

namespace {

struct Dense {
  std::vector<double> out, lse, dq, dk, dv;
};

// q [B, Q, H·D]; k, v [B, L, KH·D] (stride L); query i sits at position L − Q + i; keys before
// key_begin[b] are masked (a row left with none attends to itself). dout given: gradients too.
Dense reference_attention(const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                          const std::vector<float>* dout, int64_t B, int64_t Q, int64_t L, int64_t H, int64_t KH,
                          int64_t D, const int32_t* key_begin) {
  Dense r;
  r.out.assign(B * Q * H * D, 0.0);
  r.lse.assign(B * H * Q, 0.0);
  r.dq.assign(B * Q * H * D, 0.0);
  r.dk.assign(B * L * KH * D, 0.0);
  r.dv.assign(B * L * KH * D, 0.0);
  const double scale = 1.0 / std::sqrt(double(D));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      const int64_t kh = h / (H / KH);
      for (int64_t i = 0; i < Q; ++i) {
        const int64_t last = L - Q + i;
        const int64_t first = key_begin ? std::min<int64_t>(key_begin[b], last) : 0;
        auto qd = [&](int64_t d) { return double(q[((b * Q + i) * H + h) * D + d]); };
        auto kd = [&](int64_t j, int64_t d) { return double(k[((b * L + j) * KH + kh) * D + d]); };
        auto vd = [&](int64_t j, int64_t d) { return double(v[((b * L + j) * KH + kh) * D + d]); };
        std::vector<double> p(L, 0.0);
        double max_score = -1e300;
        for (int64_t j = first; j <= last; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < D; ++d) dot += qd(d) * kd(j, d);
          p[j] = dot * scale;
          max_score = std::max(max_score, p[j]);
        }
        double sum = 0;
        for (int64_t j = first; j <= last; ++j) sum += std::exp(p[j] - max_score);
        r.lse[(b * H + h) * Q + i] = max_score + std::log(sum);
        for (int64_t j = first; j <= last; ++j) p[j] = std::exp(p[j] - max_score) / sum;
        for (int64_t d = 0; d < D; ++d) {
          double acc = 0;
          for (int64_t j = first; j <= last; ++j) acc += p[j] * vd(j, d);
          r.out[((b * Q + i) * H + h) * D + d] = acc;
        }
        if (!dout) continue;
        auto g = [&](int64_t d) { return double((*dout)[((b * Q + i) * H + h) * D + d]); };
        std::vector<double> dp(L, 0.0);
        double delta = 0;
        for (int64_t j = first; j <= last; ++j) {
          for (int64_t d = 0; d < D; ++d) dp[j] += g(d) * vd(j, d);
          delta += p[j] * dp[j];
        }
        for (int64_t j = first; j <= last; ++j) {
          const double ds = p[j] * (dp[j] - delta) * scale;
          for (int64_t d = 0; d < D; ++d) {
            r.dq[((b * Q + i) * H + h) * D + d] += ds * kd(j, d);
            r.dk[((b * L + j) * KH + kh) * D + d] += ds * qd(d);
            r.dv[((b * L + j) * KH + kh) * D + d] += p[j] * g(d);
          }
        }
      }
    }
  return r;
}

// Largest error over the largest expected magnitude, floored at 1: with one key, dq and dk are 0 up
// to rounding (ds = p·(dp − delta) with p = 1 and dp = delta).
double max_relative(const std::vector<float>& actual, const std::vector<double>& expected) {
  double scale = 1.0, error = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    scale = std::max(scale, std::fabs(expected[i]));
    error = std::max(error, std::fabs(double(actual[i]) - expected[i]));
  }
  return error / scale;
}

}  // namespace

TEST(attention_forward_and_backward_match_reference) {
  struct Case {
    int64_t B, T, H, KH, D;
  };
  const Case cases[] = {{1, 1, 2, 1, 8}, {2, 5, 4, 2, 16}, {1, 37, 3, 3, 24}, {1, 48, 2, 1, 64},
                        {2, 100, 4, 2, 32}, {1, 130, 2, 2, 64}};
  uint32_t seed = 11;
  for (const Case& c : cases) {
    const int64_t qd = c.H * c.D, kvd = c.KH * c.D, n = c.B * c.T;
    auto q = random_vector(n * qd, seed++, 2.0f), k = random_vector(n * kvd, seed++, 2.0f);
    auto v = random_vector(n * kvd, seed++), dout = random_vector(n * qd, seed++);
    std::vector<float> out(n * qd), lse(c.B * c.H * c.T), dq(n * qd), dk(n * kvd, -1.0f), dv(n * kvd, -1.0f);
    const AttentionShape shape{c.B, c.T, c.T, c.T, c.H, c.KH, c.D};
    attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), shape);
    attention_backward(dq.data(), dk.data(), dv.data(), dout.data(), q.data(), k.data(), v.data(), out.data(),
                       lse.data(), shape);
    const Dense expected = reference_attention(q, k, v, &dout, c.B, c.T, c.T, c.H, c.KH, c.D, nullptr);
    CHECK(max_relative(out, expected.out) < 1e-5);
    CHECK(max_relative(lse, expected.lse) < 1e-5);
    CHECK(max_relative(dq, expected.dq) < 1e-4);
    CHECK(max_relative(dk, expected.dk) < 1e-4);
    CHECK(max_relative(dv, expected.dv) < 1e-4);
  }
}

TEST(attention_prefill_after_cached_positions_and_padding_match_reference) {
  // 70 new queries after 30 cached positions (kv stride 128 as in the cache), then the same with
  // left padding: sequence 0 masks its first 3 keys, sequence 1 its first 40 (so its first ten
  // query rows have no key left and attend to themselves).
  const int64_t B = 2, Q = 70, L = 100, stride = 128, H = 4, KH = 2, D = 32;
  auto q = random_vector(B * Q * H * D, 5, 2.0f);
  auto k_dense = random_vector(B * L * KH * D, 6, 2.0f), v_dense = random_vector(B * L * KH * D, 7);
  std::vector<float> k(B * stride * KH * D, 0.0f), v(k.size(), 0.0f);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < L * KH * D; ++i) {
      k[b * stride * KH * D + i] = k_dense[b * L * KH * D + i];
      v[b * stride * KH * D + i] = v_dense[b * L * KH * D + i];
    }
  const int32_t key_begin[] = {3, 40};
  for (const int32_t* padding : {static_cast<const int32_t*>(nullptr), key_begin}) {
    std::vector<float> out(B * Q * H * D);
    AttentionShape shape{B, Q, L, stride, H, KH, D};
    shape.key_begin = padding;
    attention_forward(out.data(), nullptr, q.data(), k.data(), v.data(), shape);
    const Dense expected = reference_attention(q, k_dense, v_dense, nullptr, B, Q, L, H, KH, D, padding);
    CHECK(max_relative(out, expected.out) < 1e-5);
  }
}

TEST(attention_results_do_not_depend_on_the_thread_count) {
  const int64_t T = 97, H = 3, D = 16;
  auto q = random_vector(T * H * D, 21), k = random_vector(T * H * D, 22), v = random_vector(T * H * D, 23);
  auto dout = random_vector(T * H * D, 24);
  const AttentionShape shape{1, T, T, T, H, H, D};
  std::vector<std::vector<float>> results;
  const int before = thread_count();
  for (int threads : {1, 2, 3}) {
    set_thread_count(threads);
    std::vector<float> out(T * H * D), lse(H * T), dq(T * H * D), dk(T * H * D), dv(T * H * D);
    attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), shape);
    attention_backward(dq.data(), dk.data(), dv.data(), dout.data(), q.data(), k.data(), v.data(), out.data(),
                       lse.data(), shape);
    for (auto* part : {&dq, &dk, &dv}) out.insert(out.end(), part->begin(), part->end());
    results.push_back(out);
  }
  set_thread_count(before);
  CHECK(results[0] == results[1]);
  CHECK(results[0] == results[2]);
}

TEST(attention_decode_rows_equal_each_sequence_alone_bit_for_bit_and_the_reference) {
  // Sequences of different lengths, each in its own cache (capacity 128), one decode row each: the
  // ragged call must give every row exactly attention_forward's bits for that sequence alone
  // (continuous batching relies on it), and the reference's numbers (the log-sum-exp too). Head
  // dimensions 32, 64 and 128 take the AVX-512 decode row where the CPU has it (lengths below, at
  // and past its 16-key blocks), 24 the generic one.
  const int64_t H = 4, KH = 2, capacity = 128;
  const int64_t lengths[] = {1, 15, 16, 17, 60, 100};
  constexpr int kSequences = 6;
  for (const int64_t D : {32, 64, 128, 24}) {
    std::vector<std::vector<float>> caches_k, caches_v, queries;
    for (int s = 0; s < kSequences; ++s) {
      caches_k.push_back(random_vector(capacity * KH * D, 40 + s, 2.0f));
      caches_v.push_back(random_vector(capacity * KH * D, 50 + s));
      queries.push_back(random_vector(H * D, 60 + s, 2.0f));
    }
    std::vector<std::vector<float>> together(kSequences, std::vector<float>(H * D, 0.0f));
    std::vector<AttentionDecodeRow> rows;
    for (int s = 0; s < kSequences; ++s) {
      rows.push_back(AttentionDecodeRow{together[s].data(), queries[s].data(), caches_k[s].data(), caches_v[s].data(), lengths[s]});
    }
    attention_decode_rows(rows.data(), kSequences, H, KH, D);
    for (int s = 0; s < kSequences; ++s) {
      std::vector<float> alone(H * D), lse(H);
      const AttentionShape shape{1, 1, lengths[s], capacity, H, KH, D};
      attention_forward(alone.data(), lse.data(), queries[s].data(), caches_k[s].data(), caches_v[s].data(), shape);
      CHECK(alone == together[s]);
      const std::vector<float> k_dense(caches_k[s].begin(), caches_k[s].begin() + lengths[s] * KH * D);
      const std::vector<float> v_dense(caches_v[s].begin(), caches_v[s].begin() + lengths[s] * KH * D);
      const Dense expected = reference_attention(queries[s], k_dense, v_dense, nullptr, 1, 1, lengths[s], H, KH, D, nullptr);
      CHECK(max_relative(together[s], expected.out) < 1e-5);
      CHECK(max_relative(lse, expected.lse) < 1e-5);
    }
  }
  const int64_t D = 32;
  std::vector<float> out(H * D), q = random_vector(H * D, 1), k = random_vector(KH * D, 2), v = random_vector(KH * D, 3);
  bool threw = false;
  try {
    AttentionDecodeRow bad{out.data(), q.data(), k.data(), v.data(), 0};
    attention_decode_rows(&bad, 1, H, KH, D);
  } catch (const std::exception&) {
    threw = true;
  }
  CHECK(threw);
}
