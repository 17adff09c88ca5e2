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

/** The ggml tensor types pillow writes and reads. */
export const GgmlType = { F32: 0, F16: 1 } as const;
export type GgmlTypeCode = (typeof GgmlType)[keyof typeof GgmlType];

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
