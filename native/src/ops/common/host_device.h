// Marks small per-element functions that both the CPU kernels and the CUDA kernels call, so the
// arithmetic (bf16 rounding, penalties, random numbers) is written once and agrees bit for bit.
#pragma once

#if defined(__CUDACC__)
#define PILLOW_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define PILLOW_HOST_DEVICE inline
#endif
