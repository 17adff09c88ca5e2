#include "ops/cpu/kernel_table.h"

#include <cstdlib>
#include <cstring>

namespace pillow {

const KernelTable& kernels() {
  static const KernelTable& table = [] () -> const KernelTable& {
    switch (selected_isa()) {
      case CpuIsa::Avx512: return avx512::kernel_table();
      case CpuIsa::Avx2: return avx2::kernel_table();
      default: return portable::kernel_table();
    }
  }();
  return table;
}

Q8_0DotRows q8_0_dot_kernel() {
  static const Q8_0DotRows chosen = [] {
    const Q8_0DotRows vnni = avx512_vnni::q8_0_dot_kernel();
    return selected_isa() == CpuIsa::Avx512 && cpu_features().avx512vnni && vnni != nullptr ? vnni
                                                                                             : kernels().q8_0_dot_rows;
  }();
  return chosen;
}

Q4_0DotRows q4_0_dot_kernel() {
  static const Q4_0DotRows chosen = [] {
    const Q4_0DotRows vnni = avx512_vnni::q4_0_dot_kernel();
    return selected_isa() == CpuIsa::Avx512 && cpu_features().avx512vnni && vnni != nullptr ? vnni
                                                                                             : kernels().q4_0_dot_rows;
  }();
  return chosen;
}

Q4_KDotRows q4_k_dot_kernel() {
  static const Q4_KDotRows chosen = [] {
    const Q4_KDotRows vnni = avx512_vnni::q4_k_dot_kernel();
    return selected_isa() == CpuIsa::Avx512 && cpu_features().avx512vnni && vnni != nullptr ? vnni
                                                                                             : kernels().q4_k_dot_rows;
  }();
  return chosen;
}

const Bf16DotKernels* bf16_dot_kernels() {
  const CpuFeatures& f = cpu_features();
  static const bool avx512_bf16 = selected_isa() == CpuIsa::Avx512 && f.avx512bf16;
  static const Bf16DotKernels* tiles = avx512_bf16 && amx_tiles_granted() ? amx::bf16_dot_kernels() : nullptr;
  // vdpbf16ps only pays where it runs near the FMA's rate: measured once, kept for the process.
  static const Bf16DotKernels* dot =
      avx512_bf16 && avx512_bf16::dot_product_speedup() >= 1.25 ? avx512_bf16::bf16_dot_kernels() : nullptr;
  const char* requested = std::getenv("PILLOW_BF16_DOT");
  if (requested != nullptr && std::strcmp(requested, "off") == 0) return nullptr;
  if (requested != nullptr && std::strcmp(requested, "avx512_bf16") == 0) {
    return avx512_bf16 ? avx512_bf16::bf16_dot_kernels() : nullptr;  // forced, probe or not (tests)
  }
  return tiles != nullptr ? tiles : dot;
}

}  // namespace pillow
