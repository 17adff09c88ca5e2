#include "ops/cpu/kernel_table.h"

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

}  // namespace pillow
