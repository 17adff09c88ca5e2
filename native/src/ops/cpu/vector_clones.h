// PILLOW_VECTOR_CLONES: a function compiled twice, for x86-64-v3 (AVX2 + FMA) and the baseline,
// the copy picked at load time (GCC function multi-versioning). For the elementwise and row loops
// of ops built with generic flags (the GEMM and GEMV kernels have per-ISA translation units instead).
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PILLOW_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define PILLOW_VECTOR_CLONES
#endif
