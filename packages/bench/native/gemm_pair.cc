// Same-process comparison for `pnpm bench kernels`, compiled at bench time against the built
// native core (native/build/libpillow_core.a) and OpenBLAS; never part of the addon:
//   gemm_pair T IN OUT R repeats
// One thread each. Calls alternate (pillow base, pillow fused LoRA, OpenBLAS sgemm, ...) so both
// sides see the same load, and the time is this thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so
// neither Node's output allocation and GC threads nor other processes on a shared machine count.
// This isolates the kernels' per-core efficiency; the Node rows measure the whole API call.
// Prints one JSON line: {"base_ms", "fused_ms", "sgemm_ms", "base_best_ms", ...} (medians, bests).
#include <cblas.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "ops/cpu/lora_matmul.h"
#include "runtime/thread_pool.h"

extern "C" void openblas_set_num_threads(int);

namespace {

double thread_cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double best(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: gemm_pair T IN OUT R repeats\n");
    return 2;
  }
  const int t = std::atoi(argv[1]), in = std::atoi(argv[2]), out = std::atoi(argv[3]), r = std::atoi(argv[4]);
  const int repeats = std::max(1, std::atoi(argv[5]));
  pillow::set_thread_count(1);
  openblas_set_num_threads(1);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> x(size_t(t) * in), w(size_t(out) * in), a(size_t(r) * in), b(size_t(out) * r);
  std::vector<float> y(size_t(t) * out), y_blas(size_t(t) * out);
  for (auto& v : x) v = dist(rng);
  for (auto& v : w) v = 0.05f * dist(rng);
  for (auto& v : a) v = 0.05f * dist(rng);
  for (auto& v : b) v = 0.05f * dist(rng);
  const pillow::WeightView weight{w.data(), pillow::WeightType::F32};
  auto base = [&] { pillow::lora_matmul_forward(y.data(), x.data(), weight, nullptr, nullptr, t, in, out, 0, 1.0f); };
  auto fused = [&] { pillow::lora_matmul_forward(y.data(), x.data(), weight, a.data(), b.data(), t, in, out, r, 2.0f); };
  auto sgemm = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, t, out, in, 1.0f, x.data(), in, w.data(), in, 0.0f,
                y_blas.data(), out);
  };
  // Warm-up, and a check that both compute the same base product.
  base();
  sgemm();
  double worst = 0;
  for (size_t i = 0; i < y.size(); ++i) worst = std::max(worst, double(std::abs(y[i] - y_blas[i])));
  fused();
  std::vector<double> base_ms, fused_ms, sgemm_ms;
  for (int i = 0; i < repeats; ++i) {
    double start = thread_cpu_ms();
    base();
    base_ms.push_back(thread_cpu_ms() - start);
    start = thread_cpu_ms();
    fused();
    fused_ms.push_back(thread_cpu_ms() - start);
    start = thread_cpu_ms();
    sgemm();
    sgemm_ms.push_back(thread_cpu_ms() - start);
  }
  std::printf(
      "{\"base_ms\":%.4f,\"fused_ms\":%.4f,\"sgemm_ms\":%.4f,\"base_best_ms\":%.4f,\"fused_best_ms\":%.4f,"
      "\"sgemm_best_ms\":%.4f,\"max_difference\":%.3g,\"core\":\"%s\"}\n",
      median(base_ms), median(fused_ms), median(sgemm_ms), best(base_ms), best(fused_ms), best(sgemm_ms), worst,
      openblas_get_corename());
  return worst < 1e-2 ? 0 : 1;
}
