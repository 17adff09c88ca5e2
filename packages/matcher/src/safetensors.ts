// The matcher's weights as .safetensors, through core's one reader and writer (atomic write, validated
// header). Only F64 and F32 tensors are read back here: the matcher stores its parameters as F64.
import { CheckpointError, SafetensorsFile, writeSafetensors } from "@pillow/core";

export type Tensor = { dtype: "F64" | "F32"; shape: number[]; data: Float64Array | Float32Array };

export async function writeSafetensorsFile(
  path: string,
  tensors: Record<string, Tensor>,
  metadata: Record<string, string> = {},
): Promise<void> {
  writeSafetensors(path, tensors, metadata);
}

export async function readSafetensorsFile(
  path: string,
): Promise<{ tensors: Record<string, Tensor>; metadata: Record<string, string> }> {
  const file = SafetensorsFile.open(path);
  try {
    const tensors: Record<string, Tensor> = {};
    for (const info of file.tensors()) {
      if (info.dtype !== "F64" && info.dtype !== "F32") {
        throw new CheckpointError(
          "E_DTYPE",
          `tensor "${info.name}" has dtype ${info.dtype}; only F64 and F32 are read here`,
          { file: path },
        );
      }
      // readRaw copies into a fresh, aligned buffer: the bytes need not be aligned inside the file.
      const bytes = file.readRaw(info.name);
      const data = info.dtype === "F64" ? new Float64Array(bytes.buffer) : new Float32Array(bytes.buffer);
      tensors[info.name] = { dtype: info.dtype, shape: info.shape, data };
    }
    return { tensors, metadata: file.metadata };
  } finally {
    file.close();
  }
}
