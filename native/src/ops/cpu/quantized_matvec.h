// Matrix-vector product over a weight matrix kept in llama.cpp's Q8_0 blocks, read as stored: decode
// reads 34 bytes per 32 weights instead of 128 (f32). CPU path, multi-threaded over rows.
#pragma once
#include <cstdint>

namespace pillow {

// out[rows] = W[rows, columns] · x[columns], W in Q8_0: each row is columns / 32 blocks of
// { f16 d, int8 q[32] } (34 bytes), value j of a block = q[j]·d. columns must be a multiple of 32.
// x stays f32 (unlike llama.cpp, which rounds x to Q8_0 too): only the weights are quantized.
void quantized_matvec_q8_0(float* out, const float* x, const uint8_t* w, int64_t rows, int64_t columns);

// y[t·ldy + r] = (accumulate ? y[t·ldy + r] : 0) + W row r · x[t·ldx …] for r in [row_begin, row_end),
// t < tokens: the model's decode GEMV over a Q8_0 weight, on the calling thread only (it runs inside
// the GEMV's parallel region, one block of rows per call). Arguments are the caller's to check.
void q8_0_gemv_rows(float* y, int64_t ldy, const float* x, int64_t ldx, const uint8_t* w, int64_t columns,
                    int64_t row_begin, int64_t row_end, int tokens, bool accumulate);

// Value (row, k) of a Q8_0 matrix at flat index row·columns + k (what the GEMM's packing reads).
float q8_0_value(const uint8_t* w, int64_t flat_index);

// llama.cpp's dequantization of `blocks` consecutive Q8_0 blocks into 32·blocks floats.
void q8_0_dequantize_blocks(float* out, const uint8_t* blocks_data, int64_t blocks);

// out[0, count) = the values at flat indices [flat_begin, flat_begin + count) of a Q8_0 matrix (which
// may start and end inside a block): a stretch of one row, dequantized as llama.cpp does.
void q8_0_dequantize_range(float* out, const uint8_t* w, int64_t flat_begin, int64_t count);

// Bytes of a [rows, columns] Q8_0 matrix; E_SHAPE unless rows >= 1 and columns is a positive multiple of 32.
int64_t q8_0_matrix_bytes(const char* op, int64_t rows, int64_t columns);

}  // namespace pillow
