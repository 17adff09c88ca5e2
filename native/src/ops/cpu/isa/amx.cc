// The AMX BF16 GEMM kernels, compiled for AVX-512 with AVX512-BF16, AMX-TILE and AMX-BF16 (flags
// set in CMakeLists.txt); dispatch.cc hands them out only where the CPU has AMX and the OS granted
// this process its tile data (runtime/cpu_features.cc).
#define PILLOW_ISA_NAMESPACE pillow::amx
#include "ops/cpu/kernel_table.h"
#include "ops/cpu/kernels/gemm_amx_kernel.h"
#include "ops/cpu/kernels/gemm_bf16_kernel.h"

namespace pillow::amx {

const Bf16DotKernels* bf16_dot_kernels() {
#if defined(__AMX_BF16__) && defined(__AMX_TILE__) && defined(__AVX512BF16__)
  static_assert(kAmxColumns == kBf16Columns, "AMX B panels are the AVX512-BF16 kernel's B panels");
  static const Bf16DotKernels table{"amx", kAmxRows, kAmxColumns, kAmxPairsPerStep, &amx_gemm_micro, &amx_pack_a,
                                    &bf16_pack_b,       &amx_tiles_begin, &amx_tiles_end};
  return &table;
#else
  return nullptr;  // built without the instructions (a non-x86 host, or a compiler without them)
#endif
}

}  // namespace pillow::amx
