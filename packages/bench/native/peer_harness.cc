// Peer baselines for `pnpm bench kernels`, compiled at bench time (never part of the addon):
//   sgemm M N K repeats         OpenBLAS cblas_sgemm, C[M,N] = A[M,K]·B[N,K]ᵀ (the LoRA layout)
//   lora_unfused T IN OUT R repeats   the unfused LoRA forward as PEFT runs it on BLAS: y = x·Wᵀ,
//                               u = x·Aᵀ, y += s·u·Bᵀ (three sgemm calls)
//   sgemv IN OUT repeats        OpenBLAS cblas_sgemv, y = W·x (decode, T = 1)
//   bandwidth MiB repeats       memory read bandwidth with every hardware thread (vector loads,
//                               dynamic 1 MiB chunks, persistent threads; MiB >> last-level cache)
//   fma_peak threads repeats    f32 FMA throughput: 12 independent FMA chains per thread in the
//                               widest vectors the CPU has (AVX-512 zmm, else AVX2 ymm; chosen at run
//                               time; covers 2 pipes x 4-cycle latency), every thread at once
//   sort_sample rows vocab top_k top_p repeats   a sort-based sampler (softmax, full sort, top-k,
//                               top-p, draw), the way a straightforward implementation does it
// Each prints one JSON line: {"median_ms": ..., "best_ms": ..., ...}.
#include <cblas.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

// CPU time of the whole process (all threads), in ms: less sensitive than wall time to other
// processes competing for the cores.
double cpu_ms() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e3 + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e3;
}

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

template <typename F>
void report(const char* what, int repeats, F body, const std::string& extra = "") {
  body();  // warm-up
  std::vector<double> times, cpu_times;
  for (int i = 0; i < repeats; ++i) {
    const double start = now_ms(), cpu_start = cpu_ms();
    body();
    times.push_back(now_ms() - start);
    cpu_times.push_back(cpu_ms() - cpu_start);
  }
  std::sort(times.begin(), times.end());
  std::sort(cpu_times.begin(), cpu_times.end());
  std::printf("{\"what\":\"%s\",\"median_ms\":%.6f,\"best_ms\":%.6f,\"cpu_median_ms\":%.6f%s}\n", what,
              times[times.size() / 2], times[0], cpu_times[cpu_times.size() / 2], extra.c_str());
}

std::vector<float> random_values(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

int sgemm(int argc, char** argv) {
  if (argc < 6) return 2;
  const int m = std::atoi(argv[2]), n = std::atoi(argv[3]), k = std::atoi(argv[4]), repeats = std::atoi(argv[5]);
  auto a = random_values(size_t(m) * k, 1), b = random_values(size_t(n) * k, 2);
  std::vector<float> c(size_t(m) * n);
  report("sgemm", repeats, [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n);
  }, ",\"config\":\"" + std::string(openblas_get_config()) + "\",\"core\":\"" + openblas_get_corename() + "\"");
  return 0;
}

int lora_unfused(int argc, char** argv) {
  if (argc < 7) return 2;
  const int t = std::atoi(argv[2]), in = std::atoi(argv[3]), out = std::atoi(argv[4]), r = std::atoi(argv[5]);
  const int repeats = std::atoi(argv[6]);
  auto x = random_values(size_t(t) * in, 1), w = random_values(size_t(out) * in, 2);
  auto a = random_values(size_t(r) * in, 3), b = random_values(size_t(out) * r, 4);
  std::vector<float> y(size_t(t) * out), u(size_t(t) * r);
  report("lora_unfused", repeats, [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, t, out, in, 1.0f, x.data(), in, w.data(), in, 0.0f, y.data(), out);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, t, r, in, 1.0f, x.data(), in, a.data(), in, 0.0f, u.data(), r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, t, out, r, 2.0f, u.data(), r, b.data(), r, 1.0f, y.data(), out);
  });
  return 0;
}

int sgemv(int argc, char** argv) {
  if (argc < 5) return 2;
  const int in = std::atoi(argv[2]), out = std::atoi(argv[3]), repeats = std::atoi(argv[4]);
  auto x = random_values(static_cast<size_t>(in), 1), w = random_values(size_t(out) * in, 2);
  std::vector<float> y(static_cast<size_t>(out));
  report("sgemv", repeats, [&] {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, w.data(), in, x.data(), 1, 0.0f, y.data(), 1);
  });
  return 0;
}

// Sums `count` floats with four independent vector accumulators: one 32-byte load per add, so
// the loop is bound by memory, never by the adds (AVX2 code chosen at run time; the harness is
// built without -m flags). Returns the sum so the reads cannot be optimised away.
__attribute__((target("avx2"))) float sum_avx2(const float* p, size_t count) {
  typedef float v8 __attribute__((vector_size(32)));
  v8 a0{}, a1{}, a2{}, a3{};
  for (size_t i = 0; i + 32 <= count; i += 32) {
    v8 x0, x1, x2, x3;
    std::memcpy(&x0, p + i, 32);
    std::memcpy(&x1, p + i + 8, 32);
    std::memcpy(&x2, p + i + 16, 32);
    std::memcpy(&x3, p + i + 24, 32);
    a0 += x0; a1 += x1; a2 += x2; a3 += x3;
  }
  const v8 total = (a0 + a1) + (a2 + a3);
  float sum = 0;
  for (int i = 0; i < 8; ++i) sum += total[i];
  return sum;
}

float sum_portable(const float* p, size_t count) {
  float acc[16] = {};
  for (size_t i = 0; i + 16 <= count; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += p[i + j];
  return std::accumulate(acc, acc + 16, 0.0f);
}

// The machine's f32 FMA peak as it runs now (clock and all): each thread keeps 12 independent
// FMA chains going, which fills two FMA pipes of 4-cycle latency, for `iterations` steps. One
// body per vector width, chosen at run time (the harness is built without -m flags): a probe in
// 8-wide vectors on an AVX-512 host measures half its peak, and "% of peak" rows then read above
// 100 % (the 110 %).
typedef float float8_vector __attribute__((vector_size(32)));
typedef float float16_vector __attribute__((vector_size(64)));

template <typename vector>
__attribute__((always_inline)) inline float fma_chains_body(long iterations) {
  constexpr int lanes = sizeof(vector) / sizeof(float);
  vector acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = vector{} + 1.0f + 0.001f * i;
  vector m = vector{} + 0.999999f, c = vector{} + 1e-7f;
  asm volatile("" : "+x"(m), "+x"(c));  // opaque: nothing about the chains can be folded
  for (long step = 0; step < iterations; ++step) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = acc[i] * m + c;  // one FMA each (GNU mode contracts)
  }
  float sum = 0;
  for (int i = 0; i < 12; ++i)
    for (int l = 0; l < lanes; ++l) sum += acc[i][l];
  return sum;
}

__attribute__((target("avx2,fma"))) float fma_chains_avx2(long iterations) { return fma_chains_body<float8_vector>(iterations); }
__attribute__((target("avx512f,fma"))) float fma_chains_avx512(long iterations) { return fma_chains_body<float16_vector>(iterations); }

int fma_peak(int argc, char** argv) {
  if (argc < 4) return 2;
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return 3;
  const bool zmm = __builtin_cpu_supports("avx512f");
  const int lanes = zmm ? 16 : 8;
  const int threads = std::max(1, std::atoi(argv[2])), repeats = std::atoi(argv[3]);
  const long iterations = zmm ? 10000000 : 20000000;  // ~0.1 s per thread at ~3 GHz
  std::atomic<double> checksum{0};
  report("fma_peak", repeats, [&] {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        const float value = zmm ? fma_chains_avx512(iterations) : fma_chains_avx2(iterations);
        double expected = checksum.load();
        while (!checksum.compare_exchange_weak(expected, expected + value)) {
        }
      });
    }
    for (auto& thread : pool) thread.join();
  }, ",\"flops\":" + std::to_string(double(threads) * iterations * 12 * lanes * 2) + ",\"threads\":" +
         std::to_string(threads) + ",\"vector_bits\":" + std::to_string(lanes * 32));
  return checksum.load() != 0 ? 0 : 1;
}

// Memory read bandwidth with every hardware thread: a buffer far larger than any cache, read in
// 1 MiB chunks that the threads take from a shared counter (as pillow's GEMV takes its row blocks),
// so one thread descheduled by other work on a shared machine does not leave the others idle. The
// threads start once and wait on a generation counter between repeats, so thread start-up is not
// timed.
int bandwidth(int argc, char** argv) {
  if (argc < 4) return 2;
  const size_t bytes = size_t(std::atoi(argv[2])) << 20;
  const int repeats = std::atoi(argv[3]);
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  const size_t count = bytes / sizeof(float);
  const size_t chunk = (size_t{1} << 20) / sizeof(float);
  const size_t chunks = count / chunk;
  std::vector<float> data(count, 1.0f);  // written once, so every page is mapped before timing
  const bool avx2 = __builtin_cpu_supports("avx2");
  std::atomic<size_t> next{0};
  std::atomic<int> generation{0}, finished{0};
  std::atomic<bool> stop{false};
  std::atomic<double> checksum{0};
  auto drain = [&] {
    double local = 0;
    for (size_t c; (c = next.fetch_add(1)) < chunks;) {
      const float* p = data.data() + c * chunk;
      local += avx2 ? sum_avx2(p, chunk) : sum_portable(p, chunk);
    }
    double expected = checksum.load();
    while (!checksum.compare_exchange_weak(expected, expected + local)) {
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) {
    pool.emplace_back([&] {
      int seen = 0;
      while (true) {
        while (generation.load() == seen && !stop.load()) std::this_thread::yield();
        if (stop.load()) return;
        seen = generation.load();
        drain();
        finished.fetch_add(1);
      }
    });
  }
  report("bandwidth", repeats, [&] {
    next.store(0);
    finished.store(0);
    generation.fetch_add(1);
    drain();
    while (finished.load() < static_cast<int>(threads) - 1) std::this_thread::yield();
  }, ",\"bytes\":" + std::to_string(chunks * chunk * sizeof(float)) + ",\"threads\":" + std::to_string(threads));
  stop.store(true);
  for (auto& thread : pool) thread.join();
  return checksum.load() > 0 ? 0 : 1;  // keeps the reads from being optimised away
}

int sort_sample(int argc, char** argv) {
  if (argc < 7) return 2;
  const int rows = std::atoi(argv[2]), vocab = std::atoi(argv[3]), top_k = std::atoi(argv[4]);
  const float top_p = std::strtof(argv[5], nullptr);
  const int repeats = std::atoi(argv[6]);
  auto logits = random_values(size_t(rows) * vocab, 3);
  for (auto& v : logits) v *= 8.0f;
  std::vector<int> chosen(rows);
  std::mt19937_64 rng(7);
  report("sort_sample", repeats, [&] {
    std::vector<int> order(vocab);
    std::vector<float> probs(vocab);
    for (int r = 0; r < rows; ++r) {
      const float* row = logits.data() + size_t(r) * vocab;
      const float max = *std::max_element(row, row + vocab);
      double total = 0;
      for (int i = 0; i < vocab; ++i) total += (probs[i] = std::exp(row[i] - max));
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [&](int a, int b) { return probs[a] > probs[b]; });
      int kept = top_k > 0 ? std::min(top_k, vocab) : vocab;
      double mass = 0;
      for (int i = 0; i < kept; ++i) mass += probs[order[i]];
      double cumulative = 0;
      int cut = kept;
      for (int i = 0; i < kept; ++i) {
        cumulative += probs[order[i]];
        if (cumulative >= top_p * mass) { cut = i + 1; break; }
      }
      double kept_mass = 0;
      for (int i = 0; i < cut; ++i) kept_mass += probs[order[i]];
      const double target = std::uniform_real_distribution<double>(0, kept_mass)(rng);
      cumulative = 0;
      chosen[r] = order[cut - 1];
      for (int i = 0; i < cut; ++i) {
        cumulative += probs[order[i]];
        if (cumulative > target) { chosen[r] = order[i]; break; }
      }
    }
  });
  return chosen[0] >= 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: peer_harness sgemm|lora_unfused|sgemv|bandwidth|fma_peak|sort_sample ...\n");
    return 2;
  }
  const std::string command = argv[1];
  int status = 2;
  if (command == "sgemm") status = sgemm(argc, argv);
  else if (command == "bandwidth") status = bandwidth(argc, argv);
  else if (command == "fma_peak") status = fma_peak(argc, argv);
  else if (command == "lora_unfused") status = lora_unfused(argc, argv);
  else if (command == "sgemv") status = sgemv(argc, argv);
  else if (command == "sort_sample") status = sort_sample(argc, argv);
  if (status == 2) std::fprintf(stderr, "bad arguments for %s\n", command.c_str());
  return status;
}
