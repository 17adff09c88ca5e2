// Which SIMD instruction sets this CPU (and its OS) supports, read once with cpuid/xgetbv.
#pragma once

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
};

const CpuFeatures& cpu_features();
// The best ISA we have kernels for; PILLOW_ISA=portable|avx2|avx512 may lower it (for tests).
CpuIsa selected_isa();
const char* isa_name(CpuIsa isa);

// Asks the OS (Linux: arch_prctl ARCH_REQ_XCOMP_PERM) for this process's AMX tile data, once;
// true when granted. AMX instructions fault without it. False wherever the CPU lacks AMX.
bool amx_tiles_granted();

}  // namespace pillow
