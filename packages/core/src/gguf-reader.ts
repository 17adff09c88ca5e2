// A small GGUF v3 reader: metadata, tensor infos and F32/F16 tensor data. It exists to check what
// the writer produces (and to inspect GGUF files from the CLI); it is not a model loader.

import fs from "node:fs";
import { CheckpointError } from "./errors.js";
import { float16BitsToFloat32 } from "./float16.js";
import { alignUp, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GgmlType, GgufValueType } from "./gguf-format.js";

export type GgufMetadataValue = number | bigint | boolean | string | GgufMetadataValue[];

export type GgufTensorInfo = {
  name: string;
  /** ggml order: dims[0] is the innermost (contiguous) dimension, i.e. the reverse of a PyTorch shape. */
  dims: number[];
  type: number;
  /** Absolute position of the data in the file. */
  byteOffset: number;
  byteLength: number;
};

export type GgufFile = {
  version: number;
  metadata: Map<string, GgufMetadataValue>;
  /** The metadata value type of each key, as stored (for checking what a writer chose). */
  metadataTypes: Map<string, number>;
  tensors: GgufTensorInfo[];
  alignment: number;
  dataStart: number;
  readFloat32(name: string): Float32Array;
};

class Cursor {
  offset = 0;
  constructor(
    private readonly bytes: Buffer,
    private readonly file: string,
  ) {}

  private need(length: number): void {
    if (this.offset + length > this.bytes.length) {
      throw new CheckpointError("E_TRUNCATED", `GGUF header ends early (needed ${length} bytes at ${this.offset})`, { file: this.file });
    }
  }
  u8(): number {
    this.need(1);
    return this.bytes.readUInt8(this.offset++);
  }
  u32(): number {
    this.need(4);
    const value = this.bytes.readUInt32LE(this.offset);
    this.offset += 4;
    return value;
  }
  u64(): number {
    this.need(8);
    const value = this.bytes.readBigUInt64LE(this.offset);
    this.offset += 8;
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new CheckpointError("E_HEADER", `count ${value} is implausibly large`, { file: this.file });
    return Number(value);
  }
  string(): string {
    const length = this.u64();
    this.need(length);
    const text = this.bytes.toString("utf8", this.offset, this.offset + length);
    this.offset += length;
    return text;
  }
  value(type: number): GgufMetadataValue {
    const read = <T>(size: number, get: (offset: number) => T): T => {
      this.need(size);
      const result = get(this.offset);
      this.offset += size;
      return result;
    };
    switch (type) {
      case GgufValueType.UINT8:
        return read(1, (o) => this.bytes.readUInt8(o));
      case GgufValueType.INT8:
        return read(1, (o) => this.bytes.readInt8(o));
      case GgufValueType.UINT16:
        return read(2, (o) => this.bytes.readUInt16LE(o));
      case GgufValueType.INT16:
        return read(2, (o) => this.bytes.readInt16LE(o));
      case GgufValueType.UINT32:
        return read(4, (o) => this.bytes.readUInt32LE(o));
      case GgufValueType.INT32:
        return read(4, (o) => this.bytes.readInt32LE(o));
      case GgufValueType.FLOAT32:
        return read(4, (o) => this.bytes.readFloatLE(o));
      case GgufValueType.BOOL:
        return read(1, (o) => this.bytes.readUInt8(o) !== 0);
      case GgufValueType.STRING:
        return this.string();
      case GgufValueType.UINT64:
        return read(8, (o) => this.bytes.readBigUInt64LE(o));
      case GgufValueType.INT64:
        return read(8, (o) => this.bytes.readBigInt64LE(o));
      case GgufValueType.FLOAT64:
        return read(8, (o) => this.bytes.readDoubleLE(o));
      case GgufValueType.ARRAY: {
        const itemType = this.u32();
        const count = this.u64();
        const items: GgufMetadataValue[] = [];
        for (let i = 0; i < count; i++) items.push(this.value(itemType));
        return items;
      }
      default:
        throw new CheckpointError("E_HEADER", `unknown metadata value type ${type}`, { file: this.file });
    }
  }
}

const TYPE_SIZES: Record<number, number> = { [GgmlType.F32]: 4, [GgmlType.F16]: 2 };

/** Reads a GGUF file's header and gives positioned access to its F32/F16 tensors. */
export function readGguf(file: string): GgufFile {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (error) {
    throw new CheckpointError("E_FILE_NOT_FOUND", `cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { file });
  }
  const cursor = new Cursor(bytes, file);
  if (cursor.u32() !== GGUF_MAGIC) throw new CheckpointError("E_HEADER", "not a GGUF file (bad magic)", { file });
  const version = cursor.u32();
  if (version !== 3 && version !== 2) throw new CheckpointError("E_HEADER", `GGUF version ${version} is not supported`, { file });
  const tensorCount = cursor.u64();
  const metadataCount = cursor.u64();
  const metadata = new Map<string, GgufMetadataValue>();
  const metadataTypes = new Map<string, number>();
  for (let i = 0; i < metadataCount; i++) {
    const key = cursor.string();
    const type = cursor.u32();
    metadataTypes.set(key, type);
    metadata.set(key, cursor.value(type));
  }
  const alignmentValue = metadata.get("general.alignment");
  const alignment = typeof alignmentValue === "number" ? alignmentValue : GGUF_DEFAULT_ALIGNMENT;
  const infos: { name: string; dims: number[]; type: number; relativeOffset: number }[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = cursor.string();
    const dimensionCount = cursor.u32();
    const dims: number[] = [];
    for (let d = 0; d < dimensionCount; d++) dims.push(cursor.u64());
    const type = cursor.u32();
    const relativeOffset = cursor.u64();
    infos.push({ name, dims, type, relativeOffset });
  }
  const dataStart = alignUp(cursor.offset, alignment);
  const tensors: GgufTensorInfo[] = infos.map((info) => {
    const elementSize = TYPE_SIZES[info.type];
    const count = info.dims.reduce((product, d) => product * d, 1);
    const byteLength = elementSize === undefined ? Number.NaN : count * elementSize;
    const byteOffset = dataStart + info.relativeOffset;
    if (info.relativeOffset % alignment !== 0) {
      throw new CheckpointError("E_OFFSETS", `offset ${info.relativeOffset} is not a multiple of the alignment ${alignment}`, { file, tensor: info.name });
    }
    if (elementSize !== undefined && byteOffset + byteLength > bytes.length) {
      throw new CheckpointError("E_OFFSETS", "data reaches past the end of the file", { file, tensor: info.name });
    }
    return { name: info.name, dims: info.dims, type: info.type, byteOffset, byteLength };
  });
  const byName = new Map(tensors.map((tensor) => [tensor.name, tensor]));
  return {
    version,
    metadata,
    metadataTypes,
    tensors,
    alignment,
    dataStart,
    readFloat32(name: string): Float32Array {
      const info = byName.get(name);
      if (!info) throw new CheckpointError("E_MISSING_TENSOR", "no such tensor in the GGUF file", { file, tensor: name });
      const slice = bytes.subarray(info.byteOffset, info.byteOffset + info.byteLength);
      const copy = new Uint8Array(slice); // aligned copy for the typed-array view
      if (info.type === GgmlType.F32) return new Float32Array(copy.buffer);
      if (info.type === GgmlType.F16) return float16BitsToFloat32(new Uint16Array(copy.buffer));
      throw new CheckpointError("E_DTYPE", `ggml type ${info.type} is not F32 or F16`, { file, tensor: name });
    },
  };
}
