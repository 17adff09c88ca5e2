// The safetensors reader on random and mutated files: it must either read correct tensors or throw
// a CheckpointError naming the file, never another error, a crash or a hang.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { CheckpointError, SafetensorsFile, writeSafetensors } from "@pillow/core";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { recordFuzzCases } from "./fuzz-count.js";

const directory = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-safetensors-fuzz-"));
afterAll(() => fs.rmSync(directory, { recursive: true, force: true }));

const validFile = path.join(directory, "valid.safetensors");
writeSafetensors(
  validFile,
  {
    "model.embed_tokens.weight": {
      dtype: "F32",
      shape: [3, 4],
      data: Float32Array.from({ length: 12 }, (_, i) => i / 7),
    },
    "model.norm.weight": { dtype: "BF16", shape: [4], data: new Uint16Array([0x3f80, 0x4000, 0xbf80, 0x0000]) },
  },
  { format: "pt" },
);
const validBytes = fs.readFileSync(validFile);

/** Opens `bytes` as a file and reads every tensor it declares; returns what happened. */
function openAndReadAll(bytes: Uint8Array, name: string): "read" | "refused" {
  const file = path.join(directory, name);
  fs.writeFileSync(file, bytes);
  try {
    const opened = SafetensorsFile.open(file);
    try {
      for (const info of opened.tensors()) {
        const raw = opened.readRaw(info.name);
        expect(raw.byteLength).toBe(info.byteLength);
        if (info.dtype === "F32" || info.dtype === "F16" || info.dtype === "BF16") {
          const values = opened.readFloat32(info.name);
          expect(values.length).toBe(info.shape.reduce((a, b) => a * b, 1));
        }
      }
    } finally {
      opened.close();
    }
    return "read";
  } catch (error) {
    if (!(error instanceof CheckpointError)) throw error;
    expect(error.message.length).toBeGreaterThan(0);
    expect(error.message).toContain(name);
    return "refused";
  }
}

describe("safetensors reader under fuzzing", () => {
  it("survives single-byte and multi-byte mutations of a valid file", () => {
    const runs = 2500;
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ position: fc.nat({ max: validBytes.length - 1 }), value: fc.integer({ min: 0, max: 255 }) }),
          {
            minLength: 1,
            maxLength: 6,
          },
        ),
        (mutations) => {
          const bytes = new Uint8Array(validBytes);
          for (const { position, value } of mutations) bytes[position] = value;
          openAndReadAll(bytes, "mutated.safetensors");
        },
      ),
      { numRuns: runs, seed: 20261122 },
    );
    recordFuzzCases("safetensors: mutated bytes", runs);
  });

  it("survives truncation at every length and random garbage", () => {
    let cases = 0;
    for (let length = 0; length < validBytes.length; length++) {
      const outcome = openAndReadAll(validBytes.subarray(0, length), "truncated.safetensors");
      expect(outcome).toBe("refused");
      cases++;
    }
    const runs = 500;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        openAndReadAll(bytes, "garbage.safetensors");
      }),
      { numRuns: runs, seed: 7 },
    );
    recordFuzzCases("safetensors: truncations and garbage", cases + runs);
  });

  it("survives structured random headers (hostile offsets, shapes, dtypes)", () => {
    const runs = 1500;
    const entry = fc.record({
      dtype: fc.oneof(fc.constantFrom("F32", "F16", "BF16", "I64", "U8", "F64"), fc.string(), fc.integer()),
      shape: fc.oneof(
        fc.array(fc.integer({ min: -2, max: 9 }), { maxLength: 3 }),
        fc.constant("3"),
        fc.array(fc.double()),
      ),
      data_offsets: fc.oneof(
        fc.tuple(fc.integer({ min: -4, max: 80 }), fc.integer({ min: -4, max: 80 })),
        fc.tuple(fc.constant(0), fc.constant(2 ** 53)),
        fc.array(fc.nat(), { maxLength: 3 }),
      ),
    });
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ maxLength: 12 }), entry, { maxKeys: 4 }),
        fc.uint8Array({ maxLength: 96 }),
        (header, data) => {
          const json = new TextEncoder().encode(JSON.stringify(header));
          const bytes = new Uint8Array(8 + json.length + data.length);
          new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
          bytes.set(json, 8);
          bytes.set(data, 8 + json.length);
          openAndReadAll(bytes, "structured.safetensors");
        },
      ),
      { numRuns: runs, seed: 99 },
    );
    recordFuzzCases("safetensors: structured headers", runs);
  });

  it("reads the unmutated file back exactly (the fuzz baseline is a valid file)", () => {
    const opened = SafetensorsFile.open(validFile);
    expect(Array.from(opened.readFloat32("model.norm.weight"))).toEqual([1, 2, -1, 0]);
    expect(opened.readFloat32("model.embed_tokens.weight")[7]).toBeCloseTo(1, 6);
    opened.close();
  });
});
