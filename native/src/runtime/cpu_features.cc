#include "runtime/cpu_features.h"

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define PILLOW_X86 1
#endif
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace pillow {

namespace {

#ifdef PILLOW_X86
unsigned long long read_xcr0() {
  unsigned int eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}
#endif

CpuFeatures detect() {
  CpuFeatures f;
#ifdef PILLOW_X86
  unsigned int eax, ebx, ecx, edx;
  if (__get_cpuid(0, &eax, &ebx, &ecx, &edx)) {
    f.intel = ebx == 0x756e6547 && edx == 0x49656e69 && ecx == 0x6c65746e;  // "Genu" "ineI" "ntel"
  }
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
  const bool osxsave = (ecx >> 27) & 1;
  const bool avx = (ecx >> 28) & 1;
  f.fma = (ecx >> 12) & 1;
  f.f16c = (ecx >> 29) & 1;
  if (!osxsave || !avx) return f;
  const unsigned long long xcr0 = read_xcr0();
  const bool ymm_enabled = (xcr0 & 0x6) == 0x6;
  const bool zmm_enabled = (xcr0 & 0xe6) == 0xe6;
  if (!ymm_enabled) return f;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) {
    f.avx2 = (ebx >> 5) & 1;
    if (zmm_enabled) {
      f.avx512f = (ebx >> 16) & 1;
      f.avx512dq = (ebx >> 17) & 1;
      f.avx512bw = (ebx >> 30) & 1;
      f.avx512vl = (ebx >> 31) & 1;
      f.avx512vnni = (ecx >> 11) & 1;
    }
    const bool tiles_enabled = (xcr0 & 0x60000) == 0x60000;  // XTILECFG and XTILEDATA state
    if (tiles_enabled) {
      f.amx_bf16 = (edx >> 22) & 1;
      f.amx_tile = (edx >> 24) & 1;
    }
  }
  if (zmm_enabled && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) f.avx512bf16 = (eax >> 5) & 1;
#endif
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

CpuIsa selected_isa() {
  static const CpuIsa isa = [] {
    const CpuFeatures& f = cpu_features();
    CpuIsa best = CpuIsa::Portable;
    if (f.avx2 && f.fma && f.f16c) best = CpuIsa::Avx2;
    if (best == CpuIsa::Avx2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq) best = CpuIsa::Avx512;
    // An override may only lower the ISA: asking for instructions the CPU lacks would crash.
    if (const char* requested = std::getenv("PILLOW_ISA")) {
      if (std::strcmp(requested, "portable") == 0) best = CpuIsa::Portable;
      else if (std::strcmp(requested, "avx2") == 0 && best == CpuIsa::Avx512) best = CpuIsa::Avx2;
    }
    return best;
  }();
  return isa;
}

const int64_t kDecodePrefetchBytes = [] {
  if (const char* setting = std::getenv("PILLOW_PREFETCH_BYTES")) {
    const long long value = std::atoll(setting);
    if (value >= 64 && value <= 65536) return static_cast<int64_t>(value);
  }
  return static_cast<int64_t>(cpu_features().intel ? 4096 : 1024);
}();

bool amx_tiles_granted() {
  static const bool granted = [] {
    const CpuFeatures& f = cpu_features();
    if (!f.amx_tile || !f.amx_bf16) return false;
#if defined(__linux__) && defined(PILLOW_X86)
    constexpr long kArchRequestComponentPermission = 0x1023;  // ARCH_REQ_XCOMP_PERM
    constexpr long kTileDataComponent = 18;                   // XFEATURE_XTILEDATA
    return syscall(SYS_arch_prctl, kArchRequestComponentPermission, kTileDataComponent) == 0;
#else
    return false;
#endif
  }();
  return granted;
}

const char* isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::Avx512: return "avx512";
    case CpuIsa::Avx2: return "avx2";
    default: return "portable";
  }
}

}  // namespace pillow
