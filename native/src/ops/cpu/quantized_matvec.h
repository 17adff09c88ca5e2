// Products with weight matrices kept in llama.cpp's Q8_0, Q4_0 or Q4_K blocks, read as stored:
// decode reads 34 (Q8_0) or 18 (Q4_0) bytes per 32 weights, or 144 (Q4_K) per 256, instead of 4
// bytes a weight (f32). As llama.cpp's CPU backend does, the activations are rounded to the
// weight type's partner — Q8_0 (ggml's quantize_row_q8_0) for Q8_0 and Q4_0, Q8_K
// (quantize_row_q8_K_ref) for Q4_K — and the products are integer per block — int8·int8 for Q8_0
// (ggml's vec_dot_q8_0_q8_0), signed 4-bit·int8 for Q4_0 (vec_dot_q4_0_q8_0), 4-bit·int8 per
// 32-value sub-block times its 6-bit scale, less its 6-bit min times Σx, for Q4_K
// (vec_dot_q4_K_q8_K) — summed in int32 and scaled by the blocks' scales. CPU path, multi-threaded over rows.
#pragma once
#include <cstdint>

#include "ops/common/weight_view.h"

namespace pillow {

// codes[tokens·columns], scales[tokens·columns/32] = x[tokens, columns] in Q8_0, as ggml's
// reference quantize_row_q8_0 rounds it: per 32 values d = max|x|/127, code = round(x/d) (half away
// from zero, |code| <= 127, all 0 when d = 0), d stored as f16 (round to nearest even), here widened
// back to f32. A block holding inf or NaN gets codes 0 and scale NaN (its products are NaN).
// columns must be a multiple of 32 (the caller's to check).
void q8_0_quantize_rows(int8_t* codes, float* scales, const float* x, int64_t tokens, int64_t columns);

// out[tokens, columns] = x rounded to Q8_0 and back (code·d per value): what the int8 products see
// of x, for the GEMMs, which multiply it with W dequantized while packing.
void q8_0_round_rows(float* out, const float* x, int64_t tokens, int64_t columns);

// out[rows] = W[rows, columns] · x[columns], W in Q8_0 (each row columns/32 blocks of { f16 d,
// int8 q[32] }, 34 bytes) and x rounded to Q8_0 once per call (q8_0_quantize_rows). E_SHAPE unless
// rows >= 1 and columns is a positive multiple of 32; E_ARGUMENT for a null pointer.
void quantized_matvec_q8_0(float* out, const float* x, const uint8_t* w, int64_t rows, int64_t columns);

// y[t·ldy + r] = (accumulate ? y[t·ldy + r] : 0) + W row r · x_t for r in [row_begin, row_end),
// t < tokens, x_t in Q8_0: codes x_codes[t·columns, (t+1)·columns), scales x_scales[t·columns/32 …]
// (q8_0_quantize_rows). The model's decode GEMV over a Q8_0 weight, on the calling thread only (it
// runs inside the GEMV's parallel region, one block of rows per call). Arguments are the caller's to check.
void q8_0_gemv_rows(float* y, int64_t ldy, const int8_t* x_codes, const float* x_scales, const uint8_t* w,
                    int64_t columns, int64_t row_begin, int64_t row_end, int tokens, bool accumulate);

// Value (row, k) of a Q8_0 matrix at flat index row·columns + k (what the GEMM's packing reads).
float q8_0_value(const uint8_t* w, int64_t flat_index);

// out[0, count) = the values at flat indices [flat_begin, flat_begin + count) of a Q8_0 matrix (which
// may start and end inside a block): a stretch of one row, dequantized as llama.cpp does.
void q8_0_dequantize_range(float* out, const uint8_t* w, int64_t flat_begin, int64_t count);

// Bytes of a [rows, columns] Q8_0 matrix; E_SHAPE unless rows >= 1 and columns is a positive multiple of 32.
int64_t q8_0_matrix_bytes(const char* op, int64_t rows, int64_t columns);

// out[rows] = W[rows, columns] · x[columns], W in Q4_0 (each row columns/32 blocks of { f16 d,
// uint8 qs[16] }, 18 bytes) and x rounded to Q8_0 once per call (q8_0_quantize_rows). E_SHAPE unless
// rows >= 1 and columns is a positive multiple of 32; E_ARGUMENT for a null pointer.
void quantized_matvec_q4_0(float* out, const float* x, const uint8_t* w, int64_t rows, int64_t columns);

// q8_0_gemv_rows for a Q4_0 W (the Q4_0 · Q8_0 dot-product kernels).
void q4_0_gemv_rows(float* y, int64_t ldy, const int8_t* x_codes, const float* x_scales, const uint8_t* w,
                    int64_t columns, int64_t row_begin, int64_t row_end, int tokens, bool accumulate);

// Value (row, k) of a Q4_0 matrix at flat index row·columns + k: ((nibble) − 8)·d, as ggml's
// dequantize_row_q4_0 computes it (the signed code times d, in f32).
float q4_0_value(const uint8_t* w, int64_t flat_index);

// out[0, count) = the values at flat indices [flat_begin, flat_begin + count) of a Q4_0 matrix (which
// may start and end inside a block), as q4_0_value gives them.
void q4_0_dequantize_range(float* out, const uint8_t* w, int64_t flat_begin, int64_t count);

// Bytes of a [rows, columns] Q4_0 matrix; E_SHAPE unless rows >= 1 and columns is a positive multiple of 32.
int64_t q4_0_matrix_bytes(const char* op, int64_t rows, int64_t columns);

// codes[tokens·columns], scales[tokens·columns/256] = x[tokens, columns] in Q8_K, as ggml's
// quantize_row_q8_K_ref rounds it: per 256 values, with m the value of largest magnitude (the first
// on ties), code = round(x·(−127/m)) to nearest even, at most 127, and scale = 1/(−127/m) kept in
// f32 (not f16, unlike Q8_0); all codes 0 and scale 0 when every value is 0. A block holding inf or
// NaN gets codes 0 and scale NaN (its products are NaN). columns must be a multiple of 256 (the
// caller's to check).
void q8_k_quantize_rows(int8_t* codes, float* scales, const float* x, int64_t tokens, int64_t columns);

// out[tokens, columns] = x rounded to Q8_K and back (code·scale per value): what the Q4_K integer
// products see of x, for the GEMMs, which multiply it with W dequantized while packing.
void q8_k_round_rows(float* out, const float* x, int64_t tokens, int64_t columns);

// out[rows] = W[rows, columns] · x[columns], W in Q4_K (each row columns/256 super-blocks of 144
// bytes) and x rounded to Q8_K once per call (q8_k_quantize_rows). E_SHAPE unless rows >= 1 and
// columns is a positive multiple of 256; E_ARGUMENT for a null pointer.
void quantized_matvec_q4_k(float* out, const float* x, const uint8_t* w, int64_t rows, int64_t columns);

// q8_0_gemv_rows for a Q4_K W, x in Q8_K: x_codes[t·columns …], x_scales[t·columns/256 …]
// (q8_k_quantize_rows); the Q4_K · Q8_K dot-product kernels.
void q4_k_gemv_rows(float* y, int64_t ldy, const int8_t* x_codes, const float* x_scales, const uint8_t* w,
                    int64_t columns, int64_t row_begin, int64_t row_end, int tokens, bool accumulate);

// Value (row, k) of a Q4_K matrix at flat index row·columns + k: (d·sc)·q − (dmin·m), each product
// in f32 and one rounding for the difference, as ggml's dequantize_row_q4_K computes it.
float q4_k_value(const uint8_t* w, int64_t flat_index);

// out[0, count) = the values at flat indices [flat_begin, flat_begin + count) of a Q4_K matrix
// (which may start and end inside a super-block), as q4_k_value gives them.
void q4_k_dequantize_range(float* out, const uint8_t* w, int64_t flat_begin, int64_t count);

// Bytes of a [rows, columns] Q4_K matrix; E_SHAPE unless rows >= 1 and columns is a positive multiple of 256.
int64_t q4_k_matrix_bytes(const char* op, int64_t rows, int64_t columns);

// q8_0_value / q4_0_value / q4_k_value and the dequantize_range twins by the weight's type (Q8_0,
// Q4_0 or Q4_K, the caller's to check): what the GEMM's packing and get_tensor read.
float block_value(WeightType type, const uint8_t* w, int64_t flat_index);
void block_dequantize_range(WeightType type, float* out, const uint8_t* w, int64_t flat_begin, int64_t count);

}  // namespace pillow
