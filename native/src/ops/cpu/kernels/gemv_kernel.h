// The decode-time matrix-vector kernel: y = x·Wᵀ for 1..4 tokens, streaming each row of W once
// (memory-bound: W is read exactly once, x stays in L1). W is f32 or bf16 bits; bf16 is widened
// in registers (a shift), so a bf16 weight costs half the memory traffic of an f32 one.
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

#include "ops/common/bf16.h"
#include "ops/cpu/kernels/vector.h"
#include "runtime/cpu_features.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace PILLOW_ISA_NAMESPACE {

inline float8 load_weights8(const float* p) { return load8(p); }

inline float8 load_weights8(const uint16_t* p) {
#if defined(__AVX2__)
  const __m128i bits = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m256 wide = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(bits), 16));
  float8 v;
  std::memcpy(&v, &wide, sizeof(v));
  return v;
#else
  float8 v;
  for (int i = 0; i < 8; ++i) v[i] = ::pillow::bf16_to_f32(p[i]);
  return v;
#endif
}

inline float widen_weight(float v) { return v; }
inline float widen_weight(uint16_t v) { return ::pillow::bf16_to_f32(v); }

// ROWS rows of W against TOKENS rows of x; ROWS x TOKENS independent accumulators hide the FMA
// latency. `next` is the first of the ROWS rows the caller streams after these (or these rows
// again when there are none). For bf16 one cache line of each is prefetched per line consumed
// here, so their streams are already running when the hardware prefetcher would only start to
// train on them: bf16's rows are half as long in bytes, and without this they streamed at ~85 %
// of the f32 rate; for f32 the same prefetches measured slightly slower, so they are left out.
template <typename T, int ROWS, int TOKENS>
inline void gemv_tile(float* y, int64_t ldy, const float* x, int64_t ldx, const T* w, int64_t in, int64_t o,
                      const T* next, bool accumulate) {
  constexpr int64_t kLine = 64 / sizeof(T);  // elements of W per cache line
  float8 acc[ROWS][TOKENS];
  for (int r = 0; r < ROWS; ++r)
    for (int t = 0; t < TOKENS; ++t) acc[r][t] = broadcast8(0.0f);
  int64_t k = 0;
  for (; k + kLine <= in; k += kLine) {
    if constexpr (sizeof(T) == 2) {  // f32 rows are long enough for the hardware prefetcher alone
      for (int r = 0; r < ROWS; ++r) __builtin_prefetch(next + r * in + k, 0, 0);
    }
    for (int64_t j = 0; j < kLine; j += 8) {
      float8 xv[TOKENS];
      for (int t = 0; t < TOKENS; ++t) xv[t] = load8(x + t * ldx + k + j);
      for (int r = 0; r < ROWS; ++r) {
        const float8 wv = load_weights8(w + (o + r) * in + k + j);
        for (int t = 0; t < TOKENS; ++t) acc[r][t] += wv * xv[t];
      }
    }
  }
  for (; k + 8 <= in; k += 8) {
    float8 xv[TOKENS];
    for (int t = 0; t < TOKENS; ++t) xv[t] = load8(x + t * ldx + k);
    for (int r = 0; r < ROWS; ++r) {
      const float8 wv = load_weights8(w + (o + r) * in + k);
      for (int t = 0; t < TOKENS; ++t) acc[r][t] += wv * xv[t];
    }
  }
  for (int r = 0; r < ROWS; ++r) {
    for (int t = 0; t < TOKENS; ++t) {
      float total = sum8(acc[r][t]);
      for (int64_t kk = k; kk < in; ++kk) total += x[t * ldx + kk] * widen_weight(w[(o + r) * in + kk]);
      float* dst = y + t * ldy + o + r;
      *dst = accumulate ? *dst + total : total;
    }
  }
}

template <typename T, int TOKENS>
inline void gemv_typed(float* y, int64_t ldy, const float* x, int64_t ldx, const T* w, int64_t in, int64_t o_begin,
                       int64_t o_end, bool accumulate) {
  constexpr int ROWS = TOKENS == 1 ? 4 : 2;
  int64_t o = o_begin;
  for (; o + ROWS <= o_end; o += ROWS) {
    const int64_t next = o + 2 * ROWS <= o_end ? o + ROWS : o;
    gemv_tile<T, ROWS, TOKENS>(y, ldy, x, ldx, w, in, o, w + next * in, accumulate);
  }
  for (; o < o_end; ++o) gemv_tile<T, 1, TOKENS>(y, ldy, x, ldx, w, in, o, w + o * in, accumulate);
}

template <typename T>
inline void gemv_dispatch(float* y, int64_t ldy, const float* x, int64_t ldx, const T* w, int64_t in, int64_t o_begin,
                          int64_t o_end, int tokens, bool accumulate) {
  switch (tokens) {
    case 1: gemv_typed<T, 1>(y, ldy, x, ldx, w, in, o_begin, o_end, accumulate); break;
    case 2: gemv_typed<T, 2>(y, ldy, x, ldx, w, in, o_begin, o_end, accumulate); break;
    case 3: gemv_typed<T, 3>(y, ldy, x, ldx, w, in, o_begin, o_end, accumulate); break;
    default: gemv_typed<T, 4>(y, ldy, x, ldx, w, in, o_begin, o_end, accumulate); break;
  }
}

#if defined(__AVX2__)
// One token against bf16 W, the decode case. 16 weights come in one 256-bit load and are widened
// without unpacking: a shift left by 16 gives the even-indexed weights as f32, a mask the
// odd-indexed ones, and x is split into matching even/odd lanes once per call. Each row is one
// sequential stream (measured on the shared 2-core AMD EPYC build machine, one thread:
// ~14 GB/s against ~9.5 GB/s for the widen-8-at-a-time kernel over four interleaved rows).
// Each cache line consumed prefetches the line decode_prefetch_bytes() ahead (1 KiB on the AMD
// host, 4 KiB on the Intel one, runtime/cpu_features.h): consecutive rows are contiguous, so this
// runs on into the next rows and keeps lines in flight, which the hardware prefetcher alone did not
// for a bf16 stream (it is consumed twice as fast per instruction as an f32 one). Decode-shaped
// sequence over 2 MiB pages, one thread, Zen 3, medians of 10: 15.6-15.9 GB/s without, 17.7-18.1
// with 1 KiB ahead (for the f32 kernel the same prefetches measured slower, so it has none). The
// prefetches ask for every cache level (locality 3, prefetcht0): on the Intel AVX-512 host (family
// 6, model 167) prefetchnta lines were gone again before their loads, and 4096 -> 8192 bf16 took
// 14.2 ms, as long as f32; with t0, 6.6 ms (thread CPU time, 1 thread, alternating runs).
inline void gemv_bf16_row(float* y, const float* x_split, const float* x, const uint16_t* row, int64_t in,
                          int64_t blocks, bool accumulate) {
  const int64_t prefetch_bytes = ::pillow::decode_prefetch_bytes();
  const __m256i high_halves = _mm256_set1_epi32(static_cast<int>(0xFFFF0000u));
  __m256 even0 = _mm256_setzero_ps(), odd0 = _mm256_setzero_ps();
  __m256 even1 = _mm256_setzero_ps(), odd1 = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 2 <= blocks; b += 2) {
    // Never faults, even past the end of W.
    __builtin_prefetch(reinterpret_cast<const char*>(row + 16 * b) + prefetch_bytes, 0, 3);
    const __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 16 * b));
    const __m256i v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 16 * b + 16));
    even0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(v0, 16)), _mm256_loadu_ps(x_split + 16 * b), even0);
    odd0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(v0, high_halves)), _mm256_loadu_ps(x_split + 16 * b + 8), odd0);
    even1 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(v1, 16)), _mm256_loadu_ps(x_split + 16 * b + 16), even1);
    odd1 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(v1, high_halves)), _mm256_loadu_ps(x_split + 16 * b + 24), odd1);
  }
  for (; b < blocks; ++b) {
    const __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 16 * b));
    even0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(v0, 16)), _mm256_loadu_ps(x_split + 16 * b), even0);
    odd0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(v0, high_halves)), _mm256_loadu_ps(x_split + 16 * b + 8), odd0);
  }
  const __m256 both = _mm256_add_ps(_mm256_add_ps(even0, odd0), _mm256_add_ps(even1, odd1));
  float8 lanes;
  std::memcpy(&lanes, &both, sizeof(lanes));
  float total = sum8(lanes);
  for (int64_t k = 16 * blocks; k < in; ++k) total += x[k] * ::pillow::bf16_to_f32(row[k]);
  *y = accumulate ? *y + total : total;
}

// Four rows of W at once against the even/odd-split x, each widened as in gemv_bf16_row, with
// one cache line of each of the *next* four rows prefetched per line consumed (`next`; these rows
// again when there are none). Four interleaved streams that are already running when a row starts
// keep a 4096-wide bf16 layer near the memory bandwidth: one row at a time without the prefetch
// restarted the hardware prefetcher every 8 KiB and streamed at about two thirds of the rate
// (same-process A/B, 2 threads, 4096 -> 8192: 11.9-12.2 against 19.0-19.4 GB/s). Rows shorter
// than kBf16FourRowsMinIn keep the one-row kernel, which measured as fast or faster there
// (576 -> 49152: 12 against 10 GB/s; 1024-wide rows tie; from 2048 on, four rows win).
inline constexpr int64_t kBf16FourRowsMinIn = 2048;
inline void gemv_bf16_rows4(float* y, const float* x_split, const float* x, const uint16_t* w, int64_t in,
                            int64_t blocks, const uint16_t* next, bool accumulate) {
  const __m256i high_halves = _mm256_set1_epi32(static_cast<int>(0xFFFF0000u));
  __m256 even[4], odd[4];
  for (int r = 0; r < 4; ++r) even[r] = odd[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    if ((b & 1) == 0) {
      for (int r = 0; r < 4; ++r) __builtin_prefetch(next + r * in + 16 * b, 0, 3);
    }
    const __m256 x_even = _mm256_loadu_ps(x_split + 16 * b), x_odd = _mm256_loadu_ps(x_split + 16 * b + 8);
    for (int r = 0; r < 4; ++r) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + r * in + 16 * b));
      even[r] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(v, 16)), x_even, even[r]);
      odd[r] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(v, high_halves)), x_odd, odd[r]);
    }
  }
  for (int r = 0; r < 4; ++r) {
    const __m256 both = _mm256_add_ps(even[r], odd[r]);
    float8 lanes;
    std::memcpy(&lanes, &both, sizeof(lanes));
    float total = sum8(lanes);
    for (int64_t k = 16 * blocks; k < in; ++k) total += x[k] * ::pillow::bf16_to_f32(w[r * in + k]);
    y[r] = accumulate ? y[r] + total : total;
  }
}

// y[o] (+)= x · W[o, :] for o in [o_begin, o_end), one token, bf16 W.
inline void gemv_bf16_one_token(float* y, const float* x, const uint16_t* w, int64_t in, int64_t o_begin, int64_t o_end,
                                bool accumulate) {
  thread_local std::vector<float> x_split;  // per thread: gemv runs on the pool's threads at once
  const int64_t blocks = in / 16;
  if (static_cast<int64_t>(x_split.size()) < 16 * blocks) x_split.resize(static_cast<size_t>(16 * blocks));
  for (int64_t b = 0; b < blocks; ++b) {
    for (int j = 0; j < 8; ++j) {
      x_split[16 * b + j] = x[16 * b + 2 * j];
      x_split[16 * b + 8 + j] = x[16 * b + 2 * j + 1];
    }
  }
  int64_t o = o_begin;
  for (; in >= kBf16FourRowsMinIn && o + 4 <= o_end; o += 4) {
    const int64_t next = o + 8 <= o_end ? o + 4 : o;
    gemv_bf16_rows4(y + o, x_split.data(), x, w + o * in, in, blocks, w + next * in, accumulate);
  }
  for (; o < o_end; ++o) gemv_bf16_row(y + o, x_split.data(), x, w + o * in, in, blocks, accumulate);
}
#endif

#if defined(__AVX2__)
// One token against f32 W, one row at a time: four accumulators over 32 consecutive weights, so
// the whole of W is one sequential stream.
inline void gemv_f32_one_token(float* y, const float* x, const float* w, int64_t in, int64_t o_begin, int64_t o_end,
                               bool accumulate) {
  for (int64_t o = o_begin; o < o_end; ++o) {
    const float* row = w + o * in;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 32 <= in; k += 32) {
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(row + k), _mm256_loadu_ps(x + k), a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(row + k + 8), _mm256_loadu_ps(x + k + 8), a1);
      a2 = _mm256_fmadd_ps(_mm256_loadu_ps(row + k + 16), _mm256_loadu_ps(x + k + 16), a2);
      a3 = _mm256_fmadd_ps(_mm256_loadu_ps(row + k + 24), _mm256_loadu_ps(x + k + 24), a3);
    }
    for (; k + 8 <= in; k += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(row + k), _mm256_loadu_ps(x + k), a0);
    const __m256 both = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    float8 lanes;
    std::memcpy(&lanes, &both, sizeof(lanes));
    float total = sum8(lanes);
    for (; k < in; ++k) total += x[k] * row[k];
    y[o] = accumulate ? y[o] + total : total;
  }
}
#endif

// y[t * ldy + o] (+)= Σ_k x[t * ldx + k] · w[o * in + k], t < tokens (1..4), o in [o_begin, o_end).
// type 0: w is f32; type 1: w is bf16 bits.
inline void gemv(float* y, int64_t ldy, const float* x, int64_t ldx, const void* w, int type, int64_t in,
                 int64_t o_begin, int64_t o_end, int tokens, bool accumulate) {
  if (type == 1) {
#if defined(__AVX2__)
    if (tokens == 1) {
      gemv_bf16_one_token(y, x, static_cast<const uint16_t*>(w), in, o_begin, o_end, accumulate);
      return;
    }
#endif
    gemv_dispatch(y, ldy, x, ldx, static_cast<const uint16_t*>(w), in, o_begin, o_end, tokens, accumulate);
  } else {
#if defined(__AVX2__)
    if (tokens == 1) {
      gemv_f32_one_token(y, x, static_cast<const float*>(w), in, o_begin, o_end, accumulate);
      return;
    }
#endif
    gemv_dispatch(y, ldy, x, ldx, static_cast<const float*>(w), in, o_begin, o_end, tokens, accumulate);
  }
}

}  // namespace PILLOW_ISA_NAMESPACE
