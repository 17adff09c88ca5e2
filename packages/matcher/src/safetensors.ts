// A small safetensors reader/writer (the format: u64 little-endian header length, a JSON header of
// {name: {dtype, shape, data_offsets}} padded to 8 bytes, then the raw little-endian tensor bytes).
// The matcher's weights are a few hundred kilobytes, so whole-file buffers are fine.

import { readFile, writeFile } from "node:fs/promises";

export type Tensor = { dtype: "F64" | "F32"; shape: number[]; data: Float64Array | Float32Array };

export async function writeSafetensorsFile(
  path: string,
  tensors: Record<string, Tensor>,
  metadata: Record<string, string> = {},
): Promise<void> {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const names = Object.keys(tensors);
  for (const name of names) {
    const tensor = tensors[name];
    const elements = tensor.shape.reduce((product, size) => product * size, 1);
    if (elements !== tensor.data.length) {
      throw new Error(`safetensors: tensor "${name}" has shape [${tensor.shape}] but ${tensor.data.length} values`);
    }
    const expected = tensor.dtype === "F64" ? Float64Array : Float32Array;
    if (!(tensor.data instanceof expected)) throw new Error(`safetensors: tensor "${name}" data does not match dtype ${tensor.dtype}`);
    header[name] = { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [offset, offset + tensor.data.byteLength] };
    offset += tensor.data.byteLength;
  }
  let headerText = JSON.stringify(header);
  headerText += " ".repeat((8 - (Buffer.byteLength(headerText) % 8)) % 8);
  const headerBytes = Buffer.from(headerText, "utf8");
  const output = Buffer.alloc(8 + headerBytes.length + offset);
  output.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(output, 8);
  let position = 8 + headerBytes.length;
  for (const name of names) {
    const data = tensors[name].data;
    // Typed arrays are little-endian on every platform Node supports.
    Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(output, position);
    position += data.byteLength;
  }
  await writeFile(path, output);
}

export async function readSafetensorsFile(
  path: string,
): Promise<{ tensors: Record<string, Tensor>; metadata: Record<string, string> }> {
  const bytes = await readFile(path);
  const fail = (reason: string): never => {
    throw new Error(`${path}: not a valid safetensors file: ${reason}`);
  };
  if (bytes.length < 8) fail("shorter than its 8-byte header length");
  const headerLength = Number(bytes.readBigUInt64LE(0));
  if (8 + headerLength > bytes.length) fail(`header length ${headerLength} runs past the end of the file`);
  let header: Record<string, any>;
  try {
    header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8"));
  } catch (error) {
    return fail(`header is not JSON (${(error as Error).message})`);
  }
  const dataStart = 8 + headerLength;
  const tensors: Record<string, Tensor> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const { dtype, shape, data_offsets: offsets } = entry ?? {};
    if (dtype !== "F64" && dtype !== "F32") fail(`tensor "${name}" has dtype ${dtype}; only F64 and F32 are read here`);
    if (!Array.isArray(shape) || !Array.isArray(offsets) || offsets.length !== 2) fail(`tensor "${name}" lacks shape or data_offsets`);
    const [begin, end] = offsets as number[];
    const width = dtype === "F64" ? 8 : 4;
    const elements = (shape as number[]).reduce((product, size) => product * size, 1);
    if (end - begin !== elements * width || dataStart + end > bytes.length || begin < 0) {
      fail(`tensor "${name}" offsets [${begin}, ${end}] do not match shape [${shape}] or the file size`);
    }
    // Copy into an aligned buffer: the tensor bytes need not be 8-byte aligned inside the file.
    const copy = new Uint8Array(end - begin);
    copy.set(bytes.subarray(dataStart + begin, dataStart + end));
    tensors[name] = {
      dtype,
      shape: shape as number[],
      data: dtype === "F64" ? new Float64Array(copy.buffer) : new Float32Array(copy.buffer),
    };
  }
  return { tensors, metadata: (header.__metadata__ as Record<string, string>) ?? {} };
}
