// The Q8_0, Q4_0 and Q4_K dot products with AVX-512 VNNI (vpdpbusd on 256-bit vectors; flags set in
// CMakeLists.txt); dispatch.cc hands them out only on CPUs that report the instructions.
#define PILLOW_ISA_NAMESPACE pillow::avx512_vnni
#include "ops/cpu/kernel_table.h"
#include "ops/cpu/kernels/q8_0_dot_kernel.h"
#include "ops/cpu/kernels/q4_0_dot_kernel.h"
#include "ops/cpu/kernels/q4_k_dot_kernel.h"

namespace pillow::avx512_vnni {

Q8_0DotRows q8_0_dot_kernel() {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return &pillow::avx512_vnni::q8_0_dot_rows;
#else
  return nullptr;  // built without the instructions (a non-x86 host, or a compiler without them)
#endif
}

Q4_0DotRows q4_0_dot_kernel() {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return &pillow::avx512_vnni::q4_0_dot_rows;
#else
  return nullptr;
#endif
}

Q4_KDotRows q4_k_dot_kernel() {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return &pillow::avx512_vnni::q4_k_dot_rows;
#else
  return nullptr;
#endif
}

}  // namespace pillow::avx512_vnni
