// The GGUF container (version 3), as llama.cpp defines it: "GGUF", version, tensor count, metadata
// count, metadata key/values, tensor infos (name, dims innermost first, ggml type, offset), padding,
// then tensor data, each tensor aligned to `general.alignment` (32 by default). All little-endian.

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value types. */
export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufValueTypeCode = (typeof GgufValueType)[keyof typeof GgufValueType];

/** The ggml tensor types pillow reads (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K); it writes all but BF16, Q5_K and Q6_K. */
export const GgmlType = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8, Q4_K: 12, Q5_K: 13, Q6_K: 14, BF16: 30 } as const;
export type GgmlTypeCode = (typeof GgmlType)[keyof typeof GgmlType];

/**
 * Every ggml type llama.cpp defines (ggml.c's type_traits): name, values per block and bytes per
 * block. Known even where pillow cannot decode the type, so a file's tensor table is checked in full
 * (sizes, offsets) and an unreadable type is named rather than mistaken for a truncated file.
 */
export const GGML_TYPES: Record<number, { name: string; blockSize: number; blockBytes: number }> = {
  0: { name: "F32", blockSize: 1, blockBytes: 4 },
  1: { name: "F16", blockSize: 1, blockBytes: 2 },
  2: { name: "Q4_0", blockSize: 32, blockBytes: 18 },
  3: { name: "Q4_1", blockSize: 32, blockBytes: 20 },
  6: { name: "Q5_0", blockSize: 32, blockBytes: 22 },
  7: { name: "Q5_1", blockSize: 32, blockBytes: 24 },
  8: { name: "Q8_0", blockSize: 32, blockBytes: 34 },
  9: { name: "Q8_1", blockSize: 32, blockBytes: 36 },
  10: { name: "Q2_K", blockSize: 256, blockBytes: 84 },
  11: { name: "Q3_K", blockSize: 256, blockBytes: 110 },
  12: { name: "Q4_K", blockSize: 256, blockBytes: 144 },
  13: { name: "Q5_K", blockSize: 256, blockBytes: 176 },
  14: { name: "Q6_K", blockSize: 256, blockBytes: 210 },
  15: { name: "Q8_K", blockSize: 256, blockBytes: 292 },
  16: { name: "IQ2_XXS", blockSize: 256, blockBytes: 66 },
  17: { name: "IQ2_XS", blockSize: 256, blockBytes: 74 },
  18: { name: "IQ3_XXS", blockSize: 256, blockBytes: 98 },
  19: { name: "IQ1_S", blockSize: 256, blockBytes: 50 },
  20: { name: "IQ4_NL", blockSize: 32, blockBytes: 18 },
  21: { name: "IQ3_S", blockSize: 256, blockBytes: 110 },
  22: { name: "IQ2_S", blockSize: 256, blockBytes: 82 },
  23: { name: "IQ4_XS", blockSize: 256, blockBytes: 136 },
  24: { name: "I8", blockSize: 1, blockBytes: 1 },
  25: { name: "I16", blockSize: 1, blockBytes: 2 },
  26: { name: "I32", blockSize: 1, blockBytes: 4 },
  27: { name: "I64", blockSize: 1, blockBytes: 8 },
  28: { name: "F64", blockSize: 1, blockBytes: 8 },
  29: { name: "IQ1_M", blockSize: 256, blockBytes: 56 },
  30: { name: "BF16", blockSize: 1, blockBytes: 2 },
  34: { name: "TQ1_0", blockSize: 256, blockBytes: 54 },
  35: { name: "TQ2_0", blockSize: 256, blockBytes: 66 },
  39: { name: "MXFP4", blockSize: 32, blockBytes: 17 },
};

/** Bytes of a tensor of `type` with `elements` values (a whole number of blocks; checked by the caller). */
export function ggmlTensorBytes(type: number, elements: number): number {
  const traits = GGML_TYPES[type];
  return (elements / traits.blockSize) * traits.blockBytes;
}

/** llama.cpp's token types (tokenizer.ggml.token_type). */
export const GgufTokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

type Scalar =
  | { type: "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "f64"; value: number }
  | { type: "u64" | "i64"; value: bigint | number }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string };
export type GgufValue =
  | Scalar
  | { type: "array"; itemType: "string"; value: string[] }
  | { type: "array"; itemType: "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "f64"; value: ArrayLike<number> }
  | { type: "array"; itemType: "bool"; value: boolean[] };

export const SCALAR_TYPE_CODES: Record<string, GgufValueTypeCode> = {
  u8: GgufValueType.UINT8,
  i8: GgufValueType.INT8,
  u16: GgufValueType.UINT16,
  i16: GgufValueType.INT16,
  u32: GgufValueType.UINT32,
  i32: GgufValueType.INT32,
  f32: GgufValueType.FLOAT32,
  bool: GgufValueType.BOOL,
  string: GgufValueType.STRING,
  u64: GgufValueType.UINT64,
  i64: GgufValueType.INT64,
  f64: GgufValueType.FLOAT64,
};

export function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}
