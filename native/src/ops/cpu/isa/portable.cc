// Kernels compiled for the portable instruction set (flags set in CMakeLists.txt).
#define PILLOW_ISA_NAMESPACE pillow::portable
#include "ops/cpu/isa/all_kernels.inc"

namespace pillow::portable {

const KernelTable& kernel_table() {
  static const KernelTable table = PILLOW_KERNEL_TABLE(CpuIsa::Portable);
  return table;
}

}  // namespace pillow::portable
