// A GGUF v2/v3 reader: metadata, the tensor table checked in full before any data is read (every
// type known, sizes = type × shape, offsets aligned, inside the file and not overlapping), then
// tensors read lazily, one positioned read each (the file is never held whole in memory). Decodes
// F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K and Q6_K to f32; the model loader (gguf-model.ts) builds on it.

import fs from "node:fs";
import { CheckpointError } from "./errors.js";
import { bfloat16BitsToFloat32, float16BitsToFloat32 } from "./float16.js";
import {
  alignUp,
  GGML_TYPES,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GgmlType,
  GgufValueType,
  ggmlTensorBytes,
} from "./gguf-format.js";
import { dequantizeQ4_K, dequantizeQ5_K, dequantizeQ6_K } from "./k-quant-blocks.js";
import { dequantizeQ4_0, dequantizeQ8_0 } from "./quantized-blocks.js";

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
  /** The path as given, named in every error. */
  file: string;
  version: number;
  metadata: Map<string, GgufMetadataValue>;
  /** The metadata value type of each key, as stored (for checking what a writer chose). */
  metadataTypes: Map<string, number>;
  tensors: GgufTensorInfo[];
  alignment: number;
  dataStart: number;
  /** The tensor's values as f32 (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K); another type is a CheckpointError E_DTYPE. */
  readFloat32(name: string): Float32Array;
  /** The tensor's stored bytes, as they are in the file. */
  readBytes(name: string): Uint8Array;
};

/** Reads the header through a buffer that grows as the cursor moves, so only the header is read. */
class Cursor {
  offset = 0;
  private bytes = Buffer.alloc(0);
  constructor(
    private readonly fd: number,
    private readonly fileSize: number,
    private readonly file: string,
  ) {}

  need(length: number): void {
    if (this.offset + length > this.fileSize) {
      throw new CheckpointError(
        "E_TRUNCATED",
        `GGUF header ends early (needed ${length} bytes at ${this.offset}, the file has ${this.fileSize})`,
        { file: this.file },
      );
    }
    if (this.offset + length <= this.bytes.length) return;
    const size = Math.min(this.fileSize, Math.max(this.offset + length, 2 * this.bytes.length, 1 << 20));
    const grown = Buffer.alloc(size);
    this.bytes.copy(grown, 0, 0, this.bytes.length);
    const have = this.bytes.length;
    const read = fs.readSync(this.fd, grown, have, size - have, have);
    if (read !== size - have)
      throw new CheckpointError("E_TRUNCATED", `read ${read} of ${size - have} header bytes at ${have}`, {
        file: this.file,
      });
    this.bytes = grown;
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
    if (value > BigInt(Number.MAX_SAFE_INTEGER))
      throw new CheckpointError("E_HEADER", `count ${value} is implausibly large`, { file: this.file });
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
        // Every item takes at least one byte: a count beyond the file is a corrupt header, not a loop.
        if (count > this.fileSize - this.offset)
          throw new CheckpointError("E_TRUNCATED", `array of ${count} items cannot fit in the rest of the file`, {
            file: this.file,
          });
        const items: GgufMetadataValue[] = [];
        for (let i = 0; i < count; i++) items.push(this.value(itemType));
        return items;
      }
      default:
        throw new CheckpointError("E_HEADER", `unknown metadata value type ${type}`, { file: this.file });
    }
  }
}

/** Reads a GGUF file's header and tensor table, checked in full; tensor data is read on demand. */
export function readGguf(file: string): GgufFile {
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch (error) {
    throw new CheckpointError(
      "E_FILE_NOT_FOUND",
      `cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      { file },
    );
  }
  try {
    return readHeader(file, fd);
  } finally {
    fs.closeSync(fd);
  }
}

function readHeader(file: string, fd: number): GgufFile {
  const fileSize = fs.fstatSync(fd).size;
  const cursor = new Cursor(fd, fileSize, file);
  if (cursor.u32() !== GGUF_MAGIC) throw new CheckpointError("E_HEADER", "not a GGUF file (bad magic)", { file });
  const version = cursor.u32();
  if (version !== 3 && version !== 2)
    throw new CheckpointError("E_HEADER", `GGUF version ${version} is not supported`, { file });
  const tensorCount = cursor.u64();
  const metadataCount = cursor.u64();
  const metadata = new Map<string, GgufMetadataValue>();
  const metadataTypes = new Map<string, number>();
  for (let i = 0; i < metadataCount; i++) {
    const key = cursor.string();
    const type = cursor.u32();
    if (metadata.has(key))
      throw new CheckpointError("E_HEADER", `metadata key ${JSON.stringify(key)} appears twice`, { file });
    metadataTypes.set(key, type);
    metadata.set(key, cursor.value(type));
  }
  const alignmentValue = metadata.get("general.alignment");
  const alignment = alignmentValue === undefined ? GGUF_DEFAULT_ALIGNMENT : alignmentValue;
  if (
    typeof alignment !== "number" ||
    !Number.isInteger(alignment) ||
    alignment <= 0 ||
    (alignment & (alignment - 1)) !== 0
  ) {
    throw new CheckpointError("E_HEADER", `general.alignment ${String(alignment)} is not a power of two`, { file });
  }
  const infos: { name: string; dims: number[]; type: number; relativeOffset: number }[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = cursor.string();
    const dimensionCount = cursor.u32();
    // ggml tensors have at most 4 dimensions (GGML_MAX_DIMS).
    if (dimensionCount < 1 || dimensionCount > 4)
      throw new CheckpointError("E_SHAPE", `${dimensionCount} dimensions (ggml allows 1 to 4)`, { file, tensor: name });
    const dims: number[] = [];
    for (let d = 0; d < dimensionCount; d++) dims.push(cursor.u64());
    const type = cursor.u32();
    const relativeOffset = cursor.u64();
    infos.push({ name, dims, type, relativeOffset });
  }
  const dataStart = alignUp(cursor.offset, alignment);
  const tensors: GgufTensorInfo[] = infos.map((info) => checkTensor(file, fileSize, alignment, dataStart, info));
  const byName = new Map<string, GgufTensorInfo>();
  for (const tensor of tensors) {
    if (byName.has(tensor.name))
      throw new CheckpointError("E_HEADER", "the tensor table lists this name twice", { file, tensor: tensor.name });
    byName.set(tensor.name, tensor);
  }
  const ordered = [...tensors].sort((a, b) => a.byteOffset - b.byteOffset);
  for (let i = 1; i < ordered.length; i++) {
    const previous = ordered[i - 1];
    if (previous.byteOffset + previous.byteLength > ordered[i].byteOffset) {
      throw new CheckpointError("E_OVERLAP", `data overlaps tensor "${previous.name}"`, {
        file,
        tensor: ordered[i].name,
      });
    }
  }
  const info = (name: string): GgufTensorInfo => {
    const found = byName.get(name);
    if (!found)
      throw new CheckpointError("E_MISSING_TENSOR", "no such tensor in the GGUF file", { file, tensor: name });
    return found;
  };
  const readBytes = (name: string): Uint8Array => {
    const tensor = info(name);
    const bytes = new Uint8Array(tensor.byteLength);
    const fd = fs.openSync(file, "r");
    try {
      const read = fs.readSync(fd, bytes, 0, bytes.length, tensor.byteOffset);
      if (read !== bytes.length)
        throw new CheckpointError("E_TRUNCATED", `read ${read} of ${bytes.length} bytes (the file changed?)`, {
          file,
          tensor: name,
        });
    } finally {
      fs.closeSync(fd);
    }
    return bytes;
  };
  return {
    file,
    version,
    metadata,
    metadataTypes,
    tensors,
    alignment,
    dataStart,
    readBytes,
    readFloat32(name: string): Float32Array {
      const tensor = info(name);
      const elements = tensor.dims.reduce((product, d) => product * d, 1);
      const decoders: Record<number, (bytes: Uint8Array) => Float32Array> = {
        [GgmlType.F32]: (bytes) => new Float32Array(bytes.buffer, bytes.byteOffset, elements),
        [GgmlType.F16]: (bytes) => float16BitsToFloat32(new Uint16Array(bytes.buffer, bytes.byteOffset, elements)),
        [GgmlType.BF16]: (bytes) => bfloat16BitsToFloat32(new Uint16Array(bytes.buffer, bytes.byteOffset, elements)),
        [GgmlType.Q8_0]: (bytes) => dequantizeQ8_0(bytes, elements),
        [GgmlType.Q4_0]: (bytes) => dequantizeQ4_0(bytes, elements),
        [GgmlType.Q4_K]: (bytes) => dequantizeQ4_K(bytes, elements),
        [GgmlType.Q5_K]: (bytes) => dequantizeQ5_K(bytes, elements),
        [GgmlType.Q6_K]: (bytes) => dequantizeQ6_K(bytes, elements),
      };
      const decode = decoders[tensor.type];
      if (!decode) {
        throw new CheckpointError(
          "E_DTYPE",
          `ggml type ${GGML_TYPES[tensor.type].name} cannot be read (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K)`,
          { file, tensor: name },
        );
      }
      return decode(readBytes(name));
    },
  };
}

/** One tensor-table entry checked against the file: known type, whole blocks, aligned, inside the file. */
function checkTensor(
  file: string,
  fileSize: number,
  alignment: number,
  dataStart: number,
  info: { name: string; dims: number[]; type: number; relativeOffset: number },
): GgufTensorInfo {
  const where = { file, tensor: info.name };
  const traits = GGML_TYPES[info.type];
  if (!traits) throw new CheckpointError("E_DTYPE", `unknown ggml tensor type ${info.type}`, where);
  const elements = info.dims.reduce((product, d) => product * d, 1);
  if (!Number.isSafeInteger(elements))
    throw new CheckpointError("E_SHAPE", `dims [${info.dims.join(", ")}] are implausibly large`, where);
  // ggml quantizes along rows, so a row must hold whole blocks.
  if (info.dims[0] % traits.blockSize !== 0) {
    throw new CheckpointError(
      "E_SHAPE",
      `row length ${info.dims[0]} is not a multiple of ${traits.name}'s block size ${traits.blockSize}`,
      where,
    );
  }
  if (info.relativeOffset % alignment !== 0) {
    throw new CheckpointError(
      "E_OFFSETS",
      `offset ${info.relativeOffset} is not a multiple of the alignment ${alignment}`,
      where,
    );
  }
  const byteLength = ggmlTensorBytes(info.type, elements);
  const byteOffset = dataStart + info.relativeOffset;
  if (byteOffset + byteLength > fileSize) {
    throw new CheckpointError(
      "E_TRUNCATED",
      `data [${byteOffset}, ${byteOffset + byteLength}) reaches past the end of the file (${fileSize} bytes)`,
      where,
    );
  }
  return { name: info.name, dims: info.dims, type: info.type, byteOffset, byteLength };
}
