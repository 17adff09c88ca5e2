// The BF16 dot-product GEMM kernels, compiled for AVX-512 with AVX512-BF16 (flags set in
// CMakeLists.txt); dispatch.cc hands them out only on CPUs that report the instructions.
#define PILLOW_ISA_NAMESPACE pillow::avx512_bf16
#include "ops/cpu/kernel_table.h"
#include "ops/cpu/kernels/gemm_bf16_kernel.h"

#include <algorithm>
#include <chrono>

namespace pillow::avx512_bf16 {

const Bf16DotKernels* bf16_dot_kernels() {
#if defined(__AVX512BF16__)
  static const Bf16DotKernels table{"avx512_bf16", kBf16Rows, kBf16Columns, 1, &bf16_gemm_micro, &bf16_pack_a, &bf16_pack_b};
  return &table;
#else
  return nullptr;  // built without the instructions (a non-x86 host, or a compiler without them)
#endif
}

namespace {

#if defined(__AVX512BF16__)
// Seconds for `steps` rounds of 12 independent chains of one instruction (12 covers two pipes of
// up to 6 cycles' latency, so the rounds measure throughput).
template <typename Step>
double chain_seconds(long steps, Step step) {
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(0.001f * static_cast<float>(i));
  const auto start = std::chrono::steady_clock::now();
  for (long s = 0; s < steps; ++s) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = step(acc[i]);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  __m512 total = acc[0];
  for (int i = 1; i < 12; ++i) total = _mm512_add_ps(total, acc[i]);
  volatile float sink = _mm512_reduce_add_ps(total);  // keeps the chains
  (void)sink;
  return seconds;
}
#endif

}  // namespace

double dot_product_speedup() {
#if defined(__AVX512BF16__)
  __m512bh a = reinterpret_cast<__m512bh>(_mm512_set1_epi32(0x3f803f80));
  __m512bh b = reinterpret_cast<__m512bh>(_mm512_set1_epi32(0x3f7f3f7f));
  __m512 m = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(1e-7f);
  asm volatile("" : "+v"(a), "+v"(b), "+v"(m), "+v"(c));  // opaque: nothing folds
  constexpr long kSteps = 40000;
  // The best of three each: a probe on a shared machine is only ever slowed down by other work.
  double dot = 1e9, fma = 1e9;
  for (int round = 0; round < 3; ++round) {
    dot = std::min(dot, chain_seconds(kSteps, [&](__m512 acc) { return _mm512_dpbf16_ps(acc, a, b); }));
    fma = std::min(fma, chain_seconds(kSteps, [&](__m512 acc) { return _mm512_fmadd_ps(acc, m, c); }));
  }
  return 2.0 * fma / dot;  // a vdpbf16ps does two multiply-adds per lane, an FMA one
#else
  return 0.0;
#endif
}

}  // namespace pillow::avx512_bf16
