// Kernels compiled for the avx512 instruction set (flags set in CMakeLists.txt).
#define PILLOW_ISA_NAMESPACE pillow::avx512
#include "ops/cpu/isa/all_kernels.inc"

namespace pillow::avx512 {

const KernelTable& kernel_table() {
  static const KernelTable table = PILLOW_KERNEL_TABLE(CpuIsa::Avx512);
  return table;
}

}  // namespace pillow::avx512
