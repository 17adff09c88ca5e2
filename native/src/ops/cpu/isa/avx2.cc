// Kernels compiled for the avx2 instruction set (flags set in CMakeLists.txt).
#define PILLOW_ISA_NAMESPACE pillow::avx2
#include "ops/cpu/isa/all_kernels.inc"

namespace pillow::avx2 {

const KernelTable& kernel_table() {
  static const KernelTable table = PILLOW_KERNEL_TABLE(CpuIsa::Avx2);
  return table;
}

}  // namespace pillow::avx2
