// The AMX BF16 GEMM micro-kernel and its packing (Intel AMX: TDPBF16PS multiplies a 16 x 32 bf16
// tile by a 32 x 16 one into a 16 x 16 f32 tile, 16 384 multiply-adds per instruction — ~2.4
// TFLOP/s on one core of the AVX-512 host in packages/lora-kernels/README.md, 17x its f32 FMA
// peak). Included by isa/amx.cc only, with PILLOW_ISA_NAMESPACE set; the driver is
// ops/cpu/gemm_bf16.cc, which hands these out where the CPU has AMX and the OS grants its tiles.
//
// Packed layouts, in 32-bit words ("pairs" of bf16 at consecutive k, as in gemm_bf16_kernel.h),
// for a block of `pairs` pairs (a multiple of 16: one tile step is 16 pairs = 32 k):
//   A (MR = 32 rows): per tile step s, 32 rows of 16 pairs: dst[(s·32 + r)·16 + i] = pair(x[r, 32s + 2i])
//      — two 16 x 64-byte A tiles, rows 64 bytes apart
//   B (NR = 32 columns): dst[q·32 + j] = pair(w[j, 2q]) — the same layout as the AVX512-BF16
//      kernel's; tile step s is rows q = 16s … 16s + 15 (128 bytes apart), columns 0-15 and 16-31
//      are the two B tiles
// The tile: 32 x 32 of C in four accumulator tiles (tmm0-3), A in tmm4-5, B in tmm6-7.
#pragma once
#include <cstdint>
#include <cstring>

#if defined(__AMX_BF16__) && defined(__AMX_TILE__)
#include <immintrin.h>
#endif

#include "ops/common/bf16.h"

namespace PILLOW_ISA_NAMESPACE {

inline constexpr int kAmxRows = 32;
inline constexpr int kAmxColumns = 32;
inline constexpr int kAmxPairsPerStep = 16;

#if defined(__AMX_BF16__) && defined(__AMX_TILE__)

// The palette-1 tile configuration (64 bytes, ldtilecfg's operand).
struct alignas(64) AmxTileConfig {
  uint8_t palette;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t bytes_per_row[16];
  uint8_t rows[16];
};

// Tile state is per thread, and this process is not its only user: under Node, llama.cpp's AMX
// kernels (node-llama-cpp) run on the same libuv worker threads as ours and load their own tile
// configuration (a stale "configured" flag then made tdpbf16ps fault with SIGILL in `pnpm bench
// core`). So each run of micro-kernels on a thread (one parallel task of the driver) saves the
// thread's configuration, loads ours (8 tiles of 16 rows x 64 bytes) and restores the saved one
// when it ends (or releases the tiles if there was none). saved: 64 bytes.
constexpr AmxTileConfig amx_tile_config() {
  AmxTileConfig config{};
  config.palette = 1;
  for (int t = 0; t < 8; ++t) {
    config.bytes_per_row[t] = 64;
    config.rows[t] = 16;
  }
  return config;
}

// ldtilecfg / sttilecfg with all 64 bytes as the operand. Not GCC 12's _tile_loadconfig and
// _tile_storeconfig: they declare only 8 bytes of it as read or written, and the stores filling the
// other 56 bytes of a local configuration were removed as dead (the tiles stayed unconfigured and
// tilezero faulted).
using TileConfigBytes = uint8_t[64];
inline void load_tile_config(const TileConfigBytes& config) { __asm__ volatile("ldtilecfg %0" ::"m"(config)); }
inline void store_tile_config(TileConfigBytes& config) { __asm__ volatile("sttilecfg %0" : "=m"(config)); }

inline void amx_tiles_begin(uint8_t* saved) {
  store_tile_config(*reinterpret_cast<TileConfigBytes*>(saved));  // 64 zero bytes when unconfigured
  alignas(64) static constexpr AmxTileConfig ours = amx_tile_config();
  load_tile_config(*reinterpret_cast<const TileConfigBytes*>(&ours));
}

inline void amx_tiles_end(const uint8_t* saved) {
  if (saved[0] != 0) load_tile_config(*reinterpret_cast<const TileConfigBytes*>(saved));  // [0]: the palette
  else _tile_release();
}

// c[r·ldc + j] (+)= Σ_k a(r, k)·b(j, k) for r < rows, j < cols over `pairs` pairs (a multiple of 16),
// between amx_tiles_begin and amx_tiles_end on the calling thread.
inline void amx_gemm_micro(float* c, int64_t ldc, const uint32_t* a_packed, const uint32_t* b_packed, int64_t pairs,
                           int rows, int cols, bool accumulate) {
  const bool full = rows == kAmxRows && cols == kAmxColumns;
  const int64_t c_stride = ldc * static_cast<int64_t>(sizeof(float));
  if (full && accumulate) {
    _tile_loadd(0, c, c_stride);
    _tile_loadd(1, c + 16, c_stride);
    _tile_loadd(2, c + 16 * ldc, c_stride);
    _tile_loadd(3, c + 16 * ldc + 16, c_stride);
  } else {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
  }
  for (int64_t s = 0; s < pairs / kAmxPairsPerStep; ++s) {
    const uint32_t* a = a_packed + s * kAmxRows * kAmxPairsPerStep;
    const uint32_t* b = b_packed + s * kAmxPairsPerStep * kAmxColumns;
    _tile_loadd(4, a, 64);
    _tile_loadd(5, a + 16 * kAmxPairsPerStep, 64);
    _tile_loadd(6, b, kAmxColumns * 4);
    _tile_loadd(7, b + 16, kAmxColumns * 4);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  if (full) {
    _tile_stored(0, c, c_stride);
    _tile_stored(1, c + 16, c_stride);
    _tile_stored(2, c + 16 * ldc, c_stride);
    _tile_stored(3, c + 16 * ldc + 16, c_stride);
    return;
  }
  // Edge tile: through a buffer, the valid part copied (or added).
  alignas(64) float tile[kAmxRows][kAmxColumns];
  _tile_stored(0, &tile[0][0], kAmxColumns * 4);
  _tile_stored(1, &tile[0][16], kAmxColumns * 4);
  _tile_stored(2, &tile[16][0], kAmxColumns * 4);
  _tile_stored(3, &tile[16][16], kAmxColumns * 4);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < cols; ++j) c[r * ldc + j] = accumulate ? c[r * ldc + j] + tile[r][j] : tile[r][j];
}

// Rows [0, rows) of f32 x (the rest of the MR rows zero), k steps [0, k_valid) rounded to bf16
// (vcvtneps2bf16, nearest-even), the pairs beyond k_valid up to `pairs` zero, into the A layout.
inline void amx_pack_a(uint32_t* dst, const float* x, int64_t row_stride, int rows, int64_t k_valid, int64_t pairs) {
  const int64_t steps = pairs / kAmxPairsPerStep;
  for (int r = 0; r < kAmxRows; ++r) {
    const float* src = x + r * row_stride;
    for (int64_t s = 0; s < steps; ++s) {
      uint32_t* out = dst + (s * kAmxRows + r) * kAmxPairsPerStep;
      const int64_t k0 = s * 2 * kAmxPairsPerStep;
      if (r < rows && k0 + 32 <= k_valid) {
        const __m512i words = reinterpret_cast<__m512i>(
            _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + k0 + 16), _mm512_loadu_ps(src + k0)));
        _mm512_storeu_si512(out, words);
        continue;
      }
      for (int i = 0; i < kAmxPairsPerStep; ++i) {
        const int64_t k = k0 + 2 * i;
        uint32_t word = 0;
        if (r < rows && k < k_valid) {
          word = pillow::f32_to_bf16(src[k]);
          if (k + 1 < k_valid) word |= static_cast<uint32_t>(pillow::f32_to_bf16(src[k + 1])) << 16;
        }
        out[i] = word;
      }
    }
  }
}

#endif  // __AMX_BF16__ && __AMX_TILE__

}  // namespace PILLOW_ISA_NAMESPACE
