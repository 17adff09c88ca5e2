// safetensors reading and writing. A file is: 8-byte little-endian header length N, N bytes of JSON
// header ({name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}), then
// the data section the offsets point into. The whole header is validated when a file is opened, so a
// damaged or hostile file fails with a named error before any tensor is read, and each tensor is then
// read once, with one positioned read of exactly its byte range, straight into the array returned.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { CheckpointError } from "./errors.js";
import { writeAll, writeFileAtomically } from "./write-file-atomically.js";
import {
  float16BitsToBfloat16Bits,
  float16ToFloat32Table,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
} from "./float16.js";

export const SAFETENSORS_DTYPE_SIZES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
} as const;

export type SafetensorsDType = keyof typeof SAFETENSORS_DTYPE_SIZES;

export type TensorInfo = {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Absolute position in the file (header included). */
  byteOffset: number;
  byteLength: number;
  file: string;
};

/** Headers beyond this are refused before allocating (the reference implementation uses the same cap). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;
/** Elements converted per chunk when a conversion must go through a temporary buffer. */
const CONVERSION_CHUNK_ELEMENTS = 1 << 20;
/** Node's positioned reads take at most 2 GiB at a time. */
const MAX_READ_BYTES = 1 << 30;

if (os.endianness() !== "LE") {
  // Typed arrays use the host byte order; every supported platform is little-endian.
  throw new Error("@pillow/core reads safetensors through typed arrays and needs a little-endian host");
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function elementCount(shape: number[]): number {
  let count = 1;
  for (const dimension of shape) count *= dimension;
  return count;
}

/** Parses and validates a header. Exported for the property tests (it touches no file). */
export function parseSafetensorsHeader(
  headerBytes: Uint8Array,
  dataSectionStart: number,
  dataSectionLength: number,
  file: string,
): { tensors: TensorInfo[]; metadata: Record<string, string> } {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(headerBytes);
  } catch {
    throw new CheckpointError("E_HEADER", "header is not valid UTF-8", { file });
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (error) {
    throw new CheckpointError("E_HEADER", `header is not JSON (${(error as Error).message})`, { file });
  }
  if (!isPlainObject(header)) throw new CheckpointError("E_HEADER", "header is not a JSON object", { file });

  const metadata: Record<string, string> = {};
  const tensors: TensorInfo[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      if (!isPlainObject(entry)) throw new CheckpointError("E_HEADER", "__metadata__ is not an object", { file });
      for (const [key, value] of Object.entries(entry)) {
        if (typeof value !== "string") {
          throw new CheckpointError("E_HEADER", `__metadata__.${key} is not a string`, { file });
        }
        metadata[key] = value;
      }
      continue;
    }
    const where = { file, tensor: name };
    if (!isPlainObject(entry)) throw new CheckpointError("E_HEADER", "entry is not an object", where);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== "string" || !Object.hasOwn(SAFETENSORS_DTYPE_SIZES, dtype)) {
      throw new CheckpointError("E_DTYPE", `unknown dtype ${JSON.stringify(dtype)}`, where);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new CheckpointError(
        "E_SHAPE",
        `shape ${JSON.stringify(shape)} is not a list of non-negative integers`,
        where,
      );
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    ) {
      throw new CheckpointError(
        "E_OFFSETS",
        `data_offsets ${JSON.stringify(offsets)} is not [begin, end] with 0 ≤ begin ≤ end`,
        where,
      );
    }
    const [begin, end] = offsets as [number, number];
    const typedDtype = dtype as SafetensorsDType;
    const expectedBytes = elementCount(shape) * SAFETENSORS_DTYPE_SIZES[typedDtype];
    if (expectedBytes !== end - begin) {
      throw new CheckpointError(
        "E_SHAPE",
        `dtype ${dtype} × shape [${shape.join(", ")}] needs ${expectedBytes} bytes but data_offsets span ${end - begin}`,
        where,
      );
    }
    if (end > dataSectionLength) {
      throw new CheckpointError(
        "E_OFFSETS",
        `data_offsets [${begin}, ${end}] reach past the data section (${dataSectionLength} bytes; the file is truncated or the header is wrong)`,
        where,
      );
    }
    tensors.push({
      name,
      dtype: typedDtype,
      shape: [...shape],
      byteOffset: dataSectionStart + begin,
      byteLength: end - begin,
      file,
    });
  }

  const byPosition = tensors.filter((tensor) => tensor.byteLength > 0).sort((a, b) => a.byteOffset - b.byteOffset);
  for (let i = 1; i < byPosition.length; i++) {
    const previous = byPosition[i - 1];
    const current = byPosition[i];
    if (current.byteOffset < previous.byteOffset + previous.byteLength) {
      throw new CheckpointError("E_OVERLAP", `data overlaps tensor "${previous.name}"`, { file, tensor: current.name });
    }
  }
  return { tensors, metadata };
}

function readFully(fd: number, target: Uint8Array, position: number, file: string, tensor?: string): void {
  let done = 0;
  while (done < target.length) {
    const length = Math.min(target.length - done, MAX_READ_BYTES);
    const read = fs.readSync(fd, target, done, length, position + done);
    if (read === 0) {
      throw new CheckpointError(
        "E_TRUNCATED",
        `file ended at byte ${position + done} while reading ${target.length} bytes at ${position} (was it truncated after opening?)`,
        { file, tensor },
      );
    }
    done += read;
  }
}

/** One .safetensors file, open for positioned reads until `close()`. */
export class SafetensorsFile {
  readonly path: string;
  readonly metadata: Record<string, string>;
  readonly byteLength: number;
  private fd: number | null;
  private readonly byName: Map<string, TensorInfo>;

  private constructor(
    filePath: string,
    fd: number,
    byteLength: number,
    tensors: TensorInfo[],
    metadata: Record<string, string>,
  ) {
    this.path = filePath;
    this.fd = fd;
    this.byteLength = byteLength;
    this.metadata = metadata;
    this.byName = new Map(tensors.map((tensor) => [tensor.name, tensor]));
  }

  /** Opens and validates the whole header; throws CheckpointError naming the file (and tensor). */
  static open(filePath: string): SafetensorsFile {
    let fd: number;
    try {
      fd = fs.openSync(filePath, "r");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new CheckpointError(
        code === "ENOENT" ? "E_FILE_NOT_FOUND" : "E_HEADER",
        `cannot open (${code ?? (error as Error).message})`,
        { file: filePath },
      );
    }
    try {
      const stat = fs.fstatSync(fd);
      if (stat.isDirectory())
        throw new CheckpointError("E_HEADER", "is a directory, not a .safetensors file", { file: filePath });
      const fileSize = stat.size;
      if (fileSize < 8) {
        throw new CheckpointError("E_TRUNCATED", `file is ${fileSize} bytes, shorter than the 8-byte header length`, {
          file: filePath,
        });
      }
      const lengthBytes = new Uint8Array(8);
      readFully(fd, lengthBytes, 0, filePath);
      const headerLength = new DataView(lengthBytes.buffer).getBigUint64(0, true);
      if (headerLength > BigInt(fileSize - 8)) {
        throw new CheckpointError(
          "E_TRUNCATED",
          `header length ${headerLength} reaches past the end of the file (${fileSize} bytes)`,
          { file: filePath },
        );
      }
      if (headerLength > BigInt(MAX_HEADER_BYTES)) {
        throw new CheckpointError(
          "E_HEADER",
          `header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte limit`,
          { file: filePath },
        );
      }
      const headerBytes = new Uint8Array(Number(headerLength));
      readFully(fd, headerBytes, 8, filePath);
      const dataStart = 8 + headerBytes.length;
      const { tensors, metadata } = parseSafetensorsHeader(headerBytes, dataStart, fileSize - dataStart, filePath);
      return new SafetensorsFile(filePath, fd, fileSize, tensors, metadata);
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  }

  tensors(): TensorInfo[] {
    return [...this.byName.values()];
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  info(name: string): TensorInfo {
    const info = this.byName.get(name);
    if (!info)
      throw new CheckpointError("E_MISSING_TENSOR", "no such tensor in the file", { file: this.path, tensor: name });
    return info;
  }

  private openDescriptor(name: string): number {
    if (this.fd === null)
      throw new CheckpointError("E_CLOSED", "read after close()", { file: this.path, tensor: name });
    return this.fd;
  }

  /** Reads the tensor's bytes into `target` (exactly `byteLength` bytes), e.g. memory owned by the native side. */
  readRawInto(name: string, target: Uint8Array): void {
    const info = this.info(name);
    if (target.length !== info.byteLength) {
      throw new CheckpointError("E_ARGUMENT", `target has ${target.length} bytes, the tensor has ${info.byteLength}`, {
        file: this.path,
        tensor: name,
      });
    }
    readFully(this.openDescriptor(name), target, info.byteOffset, this.path, name);
  }

  readRaw(name: string): Uint8Array {
    const target = new Uint8Array(this.info(name).byteLength);
    this.readRawInto(name, target);
    return target;
  }

  /** F32 as stored; F16, BF16 and F64 converted to f32. */
  readFloat32(name: string): Float32Array {
    const info = this.info(name);
    const count = info.byteLength / SAFETENSORS_DTYPE_SIZES[info.dtype];
    const output = new Float32Array(count);
    const outputBytes = new Uint8Array(output.buffer);
    switch (info.dtype) {
      case "F32":
        this.readRawInto(name, outputBytes);
        return output;
      case "BF16":
      case "F16": {
        // Read the 16-bit values into the first half of the output and widen in place from the end:
        // element i's f32 slot (bytes 4i..4i+3) only covers 16-bit slots ≥ i, already consumed.
        this.readRawInto(name, outputBytes.subarray(0, info.byteLength));
        const halves = new Uint16Array(output.buffer, 0, count);
        const outputBits = new Uint32Array(output.buffer);
        if (info.dtype === "BF16") {
          for (let i = count - 1; i >= 0; i--) outputBits[i] = halves[i] << 16;
        } else {
          const table = float16ToFloat32Table();
          for (let i = count - 1; i >= 0; i--) output[i] = table[halves[i]];
        }
        return output;
      }
      case "F64": {
        const doubles = new Float64Array(count);
        this.readRawInto(name, new Uint8Array(doubles.buffer));
        output.set(doubles);
        return output;
      }
      default:
        throw new CheckpointError("E_DTYPE", `dtype ${info.dtype} cannot be read as float32`, {
          file: this.path,
          tensor: name,
        });
    }
  }

  /** BF16 bits as stored; F32 and F16 rounded to the nearest-even bf16. */
  readBf16Bits(name: string): Uint16Array {
    const info = this.info(name);
    const elementSize = SAFETENSORS_DTYPE_SIZES[info.dtype];
    const count = info.byteLength / elementSize;
    const output = new Uint16Array(count);
    if (info.dtype === "BF16") {
      this.readRawInto(name, new Uint8Array(output.buffer));
      return output;
    }
    if (info.dtype !== "F32" && info.dtype !== "F16") {
      throw new CheckpointError("E_DTYPE", `dtype ${info.dtype} cannot be read as bf16`, {
        file: this.path,
        tensor: name,
      });
    }
    // Convert through a bounded scratch buffer so a large f32 tensor never exists twice in memory.
    const fd = this.openDescriptor(name);
    const scratch = new ArrayBuffer(Math.min(count, CONVERSION_CHUNK_ELEMENTS) * elementSize);
    for (let start = 0; start < count; start += CONVERSION_CHUNK_ELEMENTS) {
      const chunk = Math.min(CONVERSION_CHUNK_ELEMENTS, count - start);
      const bytes = new Uint8Array(scratch, 0, chunk * elementSize);
      readFully(fd, bytes, info.byteOffset + start * elementSize, this.path, name);
      const target = output.subarray(start, start + chunk);
      if (info.dtype === "F32") float32ToBfloat16Bits(new Float32Array(scratch, 0, chunk), target);
      else float16BitsToBfloat16Bits(new Uint16Array(scratch, 0, chunk), target);
    }
    return output;
  }

  close(): void {
    if (this.fd !== null) {
      fs.closeSync(this.fd);
      this.fd = null;
    }
  }
}

const INDEX_FILE = "model.safetensors.index.json";
const SINGLE_FILE = "model.safetensors";

/**
 * A model's weights: one `model.safetensors`, or shards listed by `model.safetensors.index.json`.
 * Every shard's header is validated at open, and every tensor of the index is checked to exist.
 */
export class SafetensorsCheckpoint {
  readonly path: string;
  readonly files: SafetensorsFile[];
  readonly metadata: Record<string, unknown>;
  private readonly byName: Map<string, SafetensorsFile>;

  private constructor(
    checkpointPath: string,
    files: SafetensorsFile[],
    byName: Map<string, SafetensorsFile>,
    metadata: Record<string, unknown>,
  ) {
    this.path = checkpointPath;
    this.files = files;
    this.byName = byName;
    this.metadata = metadata;
  }

  /** `location`: a model folder, an index .json file, or a single .safetensors file. */
  static open(location: string): SafetensorsCheckpoint {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(location);
    } catch {
      throw new CheckpointError("E_FILE_NOT_FOUND", "no such file or folder", { file: location });
    }
    if (stat.isDirectory()) {
      const indexPath = path.join(location, INDEX_FILE);
      if (fs.existsSync(indexPath)) return SafetensorsCheckpoint.openIndex(indexPath);
      const singlePath = path.join(location, SINGLE_FILE);
      if (fs.existsSync(singlePath)) return SafetensorsCheckpoint.openSingle(singlePath);
      throw new CheckpointError("E_FILE_NOT_FOUND", `no ${SINGLE_FILE} or ${INDEX_FILE} in the folder`, {
        file: location,
      });
    }
    if (location.endsWith(".json")) return SafetensorsCheckpoint.openIndex(location);
    return SafetensorsCheckpoint.openSingle(location);
  }

  private static openSingle(filePath: string): SafetensorsCheckpoint {
    const file = SafetensorsFile.open(filePath);
    const byName = new Map(file.names().map((name) => [name, file]));
    return new SafetensorsCheckpoint(filePath, [file], byName, { ...file.metadata });
  }

  private static openIndex(indexPath: string): SafetensorsCheckpoint {
    let index: unknown;
    try {
      index = JSON.parse(fs.readFileSync(indexPath, "utf8"));
    } catch (error) {
      throw new CheckpointError("E_INDEX", `cannot read the index (${(error as Error).message})`, { file: indexPath });
    }
    if (!isPlainObject(index) || !isPlainObject(index.weight_map)) {
      throw new CheckpointError("E_INDEX", "index has no weight_map object", { file: indexPath });
    }
    const weightMap = index.weight_map;
    const folder = path.dirname(indexPath);
    const shards = new Map<string, SafetensorsFile>();
    const byName = new Map<string, SafetensorsFile>();
    try {
      for (const [name, shardName] of Object.entries(weightMap)) {
        if (typeof shardName !== "string" || shardName.length === 0) {
          throw new CheckpointError("E_INDEX", "weight_map entry is not a file name", {
            file: indexPath,
            tensor: name,
          });
        }
        let shard = shards.get(shardName);
        if (!shard) {
          const shardPath = path.resolve(folder, shardName);
          if (!fs.existsSync(shardPath)) {
            throw new CheckpointError("E_MISSING_SHARD", `shard ${shardName} listed in the index does not exist`, {
              file: indexPath,
              tensor: name,
            });
          }
          shard = SafetensorsFile.open(shardPath);
          shards.set(shardName, shard);
        }
        if (!shard.has(name)) {
          throw new CheckpointError("E_MISSING_TENSOR", `the index places it in ${shardName}, which does not hold it`, {
            file: indexPath,
            tensor: name,
          });
        }
        byName.set(name, shard);
      }
    } catch (error) {
      for (const shard of shards.values()) shard.close();
      throw error;
    }
    const metadata = isPlainObject(index.metadata) ? index.metadata : {};
    return new SafetensorsCheckpoint(indexPath, [...shards.values()], byName, metadata);
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  private fileOf(name: string): SafetensorsFile {
    const file = this.byName.get(name);
    if (!file)
      throw new CheckpointError("E_MISSING_TENSOR", "no such tensor in the checkpoint", {
        file: this.path,
        tensor: name,
      });
    return file;
  }

  info(name: string): TensorInfo {
    return this.fileOf(name).info(name);
  }

  readFloat32(name: string): Float32Array {
    return this.fileOf(name).readFloat32(name);
  }

  readBf16Bits(name: string): Uint16Array {
    return this.fileOf(name).readBf16Bits(name);
  }

  readRaw(name: string): Uint8Array {
    return this.fileOf(name).readRaw(name);
  }

  readRawInto(name: string, target: Uint8Array): void {
    this.fileOf(name).readRawInto(name, target);
  }

  close(): void {
    for (const file of this.files) file.close();
  }
}

export type WritableTensor = {
  dtype: "F64" | "F32" | "BF16" | "F16";
  shape: number[];
  /** F64: Float64Array. F32: Float32Array. BF16/F16: Uint16Array of raw bits, or Float32Array (rounded to nearest even). */
  data: Float64Array | Float32Array | Uint16Array;
};

function tensorBytes(name: string, tensor: WritableTensor, file: string): Uint8Array {
  const where = { file, tensor: name };
  if (!Object.hasOwn(SAFETENSORS_DTYPE_SIZES, tensor.dtype) || !["F64", "F32", "BF16", "F16"].includes(tensor.dtype)) {
    throw new CheckpointError(
      "E_DTYPE",
      `cannot write dtype ${JSON.stringify(tensor.dtype)} (F64, F32, BF16 or F16)`,
      where,
    );
  }
  if (!Array.isArray(tensor.shape) || !tensor.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new CheckpointError(
      "E_SHAPE",
      `shape ${JSON.stringify(tensor.shape)} is not a list of non-negative integers`,
      where,
    );
  }
  const count = elementCount(tensor.shape);
  if (tensor.data.length !== count) {
    throw new CheckpointError(
      "E_SHAPE",
      `shape [${tensor.shape.join(", ")}] has ${count} elements but data has ${tensor.data.length}`,
      where,
    );
  }
  let data: Float64Array | Float32Array | Uint16Array = tensor.data;
  if (tensor.dtype === "F64") {
    if (!(data instanceof Float64Array))
      throw new CheckpointError("E_ARGUMENT", "F64 data must be a Float64Array", where);
  } else if (tensor.dtype === "F32") {
    if (!(data instanceof Float32Array))
      throw new CheckpointError("E_ARGUMENT", "F32 data must be a Float32Array", where);
  } else if (data instanceof Float32Array) {
    data = tensor.dtype === "BF16" ? float32ToBfloat16Bits(data) : float32ToFloat16Bits(data);
  } else if (!(data instanceof Uint16Array)) {
    throw new CheckpointError(
      "E_ARGUMENT",
      `${tensor.dtype} data must be a Uint16Array of bits or a Float32Array`,
      where,
    );
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Writes a .safetensors file atomically. Tensors are laid out widest dtype first (stable otherwise),
 * so with the 8-byte-aligned header every tensor starts aligned to its element size and the data
 * section has no holes (as the reference implementation requires).
 */
export function writeSafetensors(
  filePath: string,
  tensors: Record<string, WritableTensor>,
  metadata?: Record<string, string>,
): void {
  const entries = Object.entries(tensors).map(([name, tensor]) => ({
    name,
    dtype: tensor.dtype,
    shape: tensor.shape,
    bytes: tensorBytes(name, tensor, filePath),
  }));
  entries.sort((a, b) => SAFETENSORS_DTYPE_SIZES[b.dtype] - SAFETENSORS_DTYPE_SIZES[a.dtype]);
  const header: Record<string, unknown> = {};
  if (metadata) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== "string")
        throw new CheckpointError("E_ARGUMENT", `metadata ${key} is not a string`, { file: filePath });
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const entry of entries) {
    header[entry.name] = {
      dtype: entry.dtype,
      shape: entry.shape,
      data_offsets: [offset, offset + entry.bytes.length],
    };
    offset += entry.bytes.length;
  }
  let headerText = JSON.stringify(header);
  const headerLength = Buffer.byteLength(headerText, "utf8");
  headerText += " ".repeat((8 - ((8 + headerLength) % 8)) % 8);
  const headerBytes = Buffer.from(headerText, "utf8");
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerBytes.length));
  writeFileAtomically(filePath, (fd) => {
    writeAll(fd, prefix);
    writeAll(fd, headerBytes);
    for (const entry of entries) writeAll(fd, entry.bytes);
  });
}
