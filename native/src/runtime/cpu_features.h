// Which SIMD instruction sets this CPU (and its OS) supports, read once with cpuid/xgetbv.
#pragma once
#include <cstdint>

namespace pillow {

enum class CpuIsa { Portable = 0, Avx2 = 1, Avx512 = 2 };

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512bf16 = false;
  bool avx512vnni = false;  // vpdpbusd (int8 dot products)
  bool amx_tile = false;  // AMX tiles and TDPBF16PS, with the OS saving tile state (XCR0 bits 17-18)
  bool amx_bf16 = false;
  bool intel = false;  // cpuid vendor "GenuineIntel"
};

const CpuFeatures& cpu_features();
// The best ISA we have kernels for; PILLOW_ISA=portable|avx2|avx512 may lower it (for tests).
CpuIsa selected_isa();
const char* isa_name(CpuIsa isa);

// How many bytes ahead of its loads a decode kernel prefetches into a weight stream (bf16, Q8_0
// and Q4_0 rows, Q4_0 not measured itself; one stream per thread, bound by memory latency: it keeps
// about this many bytes in flight). Measured per host, 134M model decode, medians of rounds of 48-64 tokens:
//   AMD EPYC Zen 3 (family 25): 1 KiB — bf16 17.7-18.1 GB/s against 16.0-16.2 at 512 B and
//     15.6-16.3 at 1.5 KiB (one thread, decode-shaped products); Q8_0 tuned at 1088 B (32 blocks).
//   Intel Xeon family 6 model 167 (AVX-512, 2026-12-04): 4 KiB — Q8_0 1 thread 88-96 tok/s at
//     1088 B, 115-129 at 4352 B, 109-112 at 8704 B; 2 threads 160-179 against 216-246; bf16 1 thread
//     58-61 against 63-66 tok/s, 2 threads 102 against 115-122 (1, 2 and 8 KiB tried).
// So Intel CPUs get 4 KiB and the others 1 KiB; PILLOW_PREFETCH_BYTES (64..65536) overrides it, to
// measure other hosts.
// (Read once when the library loads: the decode kernels ask for it on every row.)
extern const int64_t kDecodePrefetchBytes;
inline int64_t decode_prefetch_bytes() { return kDecodePrefetchBytes; }

// Asks the OS (Linux: arch_prctl ARCH_REQ_XCOMP_PERM) for this process's AMX tile data, once;
// true when granted. AMX instructions fault without it. False wherever the CPU lacks AMX.
bool amx_tiles_granted();

}  // namespace pillow
