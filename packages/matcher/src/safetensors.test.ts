import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeSafetensors } from "@pillow/core";
import { describe, expect, it } from "vitest";
import { MatchingNetwork } from "./matching-network.js";
import { readSafetensorsFile, writeSafetensorsFile } from "./safetensors.js";

async function inTemporaryDirectory(run: (directory: string) => Promise<void>): Promise<void> {
  const directory = await mkdtemp(join(tmpdir(), "pillow-st-"));
  try {
    await run(directory);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

describe("safetensors", () => {
  it("writes the standard layout, byte for byte, and reads it back", () =>
    inTemporaryDirectory(async (directory) => {
      const path = join(directory, "t.safetensors");
      await writeSafetensorsFile(
        path,
        {
          a: { dtype: "F64", shape: [2, 2], data: Float64Array.of(1, 2, 3, 4) },
          b: { dtype: "F32", shape: [3], data: Float32Array.of(0.5, -1, 2) },
        },
        { note: "x" },
      );
      // The expected file built by hand from the format: u64 LE header length, the JSON header padded
      // with spaces to a multiple of 8, then the little-endian tensor bytes in header order.
      const headerText =
        '{"__metadata__":{"note":"x"},"a":{"dtype":"F64","shape":[2,2],"data_offsets":[0,32]},"b":{"dtype":"F32","shape":[3],"data_offsets":[32,44]}}';
      const header = Buffer.from(headerText + " ".repeat((8 - (headerText.length % 8)) % 8));
      const length = Buffer.alloc(8);
      length.writeBigUInt64LE(BigInt(header.length));
      const doubles = Buffer.alloc(32);
      for (const [i, value] of [1, 2, 3, 4].entries()) doubles.writeDoubleLE(value, 8 * i);
      const floats = Buffer.alloc(12);
      for (const [i, value] of [0.5, -1, 2].entries()) floats.writeFloatLE(value, 4 * i);
      expect((await readFile(path)).equals(Buffer.concat([length, header, doubles, floats]))).toBe(true);
      const { tensors, metadata } = await readSafetensorsFile(path);
      expect(tensors.a.dtype).toBe("F64");
      expect(Array.from(tensors.a.data)).toEqual([1, 2, 3, 4]);
      expect(tensors.b.shape).toEqual([3]);
      expect(Array.from(tensors.b.data)).toEqual([0.5, -1, 2]);
      expect(metadata).toEqual({ note: "x" });
    }));

  it("writes a matcher's weights exactly as the matcher's own writer did", () =>
    inTemporaryDirectory(async (directory) => {
      // Digests of the files the matcher's former writer produced (before core's writer replaced it).
      await writeSafetensorsFile(join(directory, "empty.safetensors"), {
        z: { dtype: "F32", shape: [0], data: new Float32Array(0) },
      });
      const network = new MatchingNetwork({ embedDim: 5, hidden: 3, steps: 2, seed: 4 });
      await network.save(join(directory, "network"));
      const digest = async (file: string) =>
        createHash("sha256")
          .update(await readFile(join(directory, file)))
          .digest("hex");
      expect(await digest("empty.safetensors")).toBe(
        "e7f3949ee576ceaa1c059ef64487d1f525c86c10e8e92b10d6aa2820d0f77a23",
      );
      expect(await digest("network/model.safetensors")).toBe(
        "b68dbb1cac9f6a20a625d7dd4822a63a425a29e76bb043d4c48f60cd1095580c",
      );
      const loaded = await MatchingNetwork.load(join(directory, "network"));
      for (const slot of network.layout)
        expect(Array.from(loaded.tensor(slot.name))).toEqual(Array.from(network.tensor(slot.name)));
    }));

  it("refuses bad tensors and truncated files, naming the file", () =>
    inTemporaryDirectory(async (directory) => {
      const path = join(directory, "bad.safetensors");
      await expect(
        writeSafetensorsFile(path, { bad: { dtype: "F64", shape: [3], data: new Float64Array(2) } }),
      ).rejects.toThrow(/shape \[3\] has 3 elements but data has 2/);
      await writeSafetensorsFile(path, { a: { dtype: "F64", shape: [4], data: new Float64Array(4) } });
      await writeFile(path, (await readFile(path)).subarray(0, 20));
      await expect(readSafetensorsFile(path)).rejects.toThrow(/bad\.safetensors.*reaches past the end of the file/);
      const bf16 = join(directory, "bf16.safetensors");
      writeSafetensors(bf16, { h: { dtype: "BF16", shape: [1], data: Uint16Array.of(0x3f80) } });
      await expect(readSafetensorsFile(bf16)).rejects.toThrow(/tensor "h" has dtype BF16; only F64 and F32/);
    }));
});
