import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { CheckpointError } from "./errors.js";
import { float32BitsToBfloat16Bits, float32BitsToFloat16Bits, float32ToFloat16Bits } from "./float16.js";
import { parseSafetensorsHeader, SafetensorsCheckpoint, SafetensorsFile, writeSafetensors } from "./safetensors.js";

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "test-fixtures");
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-safetensors-"));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** A safetensors file assembled by hand, independent of writeSafetensors. */
function handMadeFile(
  name: string,
  header: unknown,
  data: Uint8Array,
  options: { headerLength?: bigint } = {},
): string {
  const headerBytes = Buffer.from(typeof header === "string" ? header : JSON.stringify(header), "utf8");
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(options.headerLength ?? BigInt(headerBytes.length));
  const file = path.join(scratch, name);
  fs.writeFileSync(file, Buffer.concat([prefix, headerBytes, data]));
  return file;
}

function expectCheckpointError(action: () => unknown, code: string, ...fragments: string[]): CheckpointError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(CheckpointError);
    const checkpointError = error as CheckpointError;
    expect(checkpointError.code).toBe(code);
    for (const fragment of fragments) expect(checkpointError.message).toContain(fragment);
    return checkpointError;
  }
  throw new Error(`expected a CheckpointError ${code}`);
}

function bitsOf(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}

describe("SafetensorsFile against PyTorch (test-fixtures/make_float_fixture.py)", () => {
  const file = SafetensorsFile.open(path.join(fixtures, "float-reference.safetensors"));
  afterAll(() => file.close());

  it("reads the header and metadata", () => {
    expect(file.metadata.generator).toBe("make_float_fixture.py");
    expect(file.info("matrix_bf16")).toMatchObject({ dtype: "BF16", shape: [3, 4, 5], byteLength: 120 });
    expect(file.has("f32")).toBe(true);
    expect(file.has("nope")).toBe(false);
  });

  it("widens F16 and BF16 to f32 bit-exactly as PyTorch does", () => {
    expect(bitsOf(file.readFloat32("f16"))).toEqual(bitsOf(file.readFloat32("f16_as_f32")));
    expect(bitsOf(file.readFloat32("bf16"))).toEqual(bitsOf(file.readFloat32("bf16_as_f32")));
    expect(bitsOf(file.readFloat32("matrix_bf16"))).toEqual(bitsOf(file.readFloat32("matrix_bf16_as_f32")));
  });

  it("rounds F32 and F16 to bf16 bits as PyTorch does (nearest even)", () => {
    const expectedFromF32 = new Uint16Array(file.readRaw("f32_to_bf16_bits").buffer);
    expect(file.readBf16Bits("f32")).toEqual(expectedFromF32);
    expect(file.readBf16Bits("f16")).toEqual(new Uint16Array(file.readRaw("f16_to_bf16_bits").buffer));
    expect(file.readBf16Bits("bf16")).toEqual(expectedFromF32);
    const f32 = file.readFloat32("f32");
    const oneByOne = Uint16Array.from(bitsOf(f32), (bits) => float32BitsToBfloat16Bits(bits));
    expect(oneByOne).toEqual(expectedFromF32);
  });

  it("rounds F32 to f16 bits as PyTorch does, subnormals and overflow included", () => {
    const expected = new Uint16Array(file.readRaw("f32_to_f16_bits").buffer);
    const f32 = file.readFloat32("f32");
    expect(float32ToFloat16Bits(f32)).toEqual(expected);
    expect(Uint16Array.from(bitsOf(f32), (bits) => float32BitsToFloat16Bits(bits))).toEqual(expected);
  });

  it("refuses float reads of an integer tensor, naming file and tensor", () => {
    expectCheckpointError(
      () => file.readFloat32("f32_to_f16_bits"),
      "E_DTYPE",
      "float-reference.safetensors",
      '"f32_to_f16_bits"',
      "I16",
    );
  });
});

describe("writeSafetensors", () => {
  it("round-trips F32, BF16 and F16 with metadata, 8-byte aligned", () => {
    const f32 = Float32Array.from({ length: 12 }, (_, i) => i * 0.25 - 1);
    const target = path.join(scratch, "round-trip.safetensors");
    writeSafetensors(
      target,
      {
        "model.embed_tokens.weight": { dtype: "BF16", shape: [3, 4], data: f32 },
        "model.norm.weight": { dtype: "F32", shape: [12], data: f32 },
        half: { dtype: "F16", shape: [2, 6], data: f32 },
        scalar: { dtype: "F32", shape: [], data: new Float32Array([42]) },
        empty: { dtype: "F32", shape: [0, 4], data: new Float32Array(0) },
      },
      { format: "pt" },
    );
    const bytes = fs.readFileSync(target);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    expect((8 + headerLength) % 8).toBe(0);
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8"));
    expect(header.__metadata__).toEqual({ format: "pt" });
    // No holes: offsets tile the data section.
    const spans = Object.entries(header)
      .filter(([name]) => name !== "__metadata__")
      .map(([, entry]) => (entry as { data_offsets: [number, number] }).data_offsets)
      .sort((a, b) => a[0] - b[0]);
    let end = 0;
    for (const [begin, finish] of spans) {
      expect(begin).toBe(end);
      end = finish;
    }
    expect(8 + headerLength + end).toBe(bytes.length);

    const file = SafetensorsFile.open(target);
    expect(file.readFloat32("model.norm.weight")).toEqual(f32);
    // These values are exact in bf16 and f16.
    expect(file.readFloat32("model.embed_tokens.weight")).toEqual(f32);
    expect(file.readFloat32("half")).toEqual(f32);
    expect(file.readFloat32("scalar")).toEqual(new Float32Array([42]));
    expect(file.readFloat32("empty")).toEqual(new Float32Array(0));
    expect(file.info("half").shape).toEqual([2, 6]);
    for (const info of file.tensors()) if (info.dtype === "F32") expect(info.byteOffset % 4).toBe(0);
    file.close();
    expectCheckpointError(() => file.readFloat32("half"), "E_CLOSED", "round-trip.safetensors");
    expect(fs.readdirSync(scratch).filter((name) => name.includes(".tmp-"))).toEqual([]);
  });

  it("round-trips random tensor sets exactly (property)", () => {
    const tensor = fc.record({
      dtype: fc.constantFrom("F32" as const, "BF16" as const, "F16" as const),
      shape: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 3 }),
      seed: fc.integer(),
    });
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), tensor, { minKeys: 1, maxKeys: 5 }),
        (spec) => {
          const target = path.join(scratch, "property.safetensors");
          const tensors: Record<
            string,
            { dtype: "F32" | "BF16" | "F16"; shape: number[]; data: Float32Array | Uint16Array }
          > = {};
          for (const [name, { dtype, shape, seed }] of Object.entries(spec)) {
            const count = shape.reduce((a, b) => a * b, 1);
            // 16-bit tensors get raw bit patterns (NaN payloads excluded), f32 arbitrary finite values.
            tensors[name] =
              dtype === "F32"
                ? {
                    dtype,
                    shape,
                    data: Float32Array.from({ length: count }, (_, i) => Math.fround(Math.sin(seed + i) * 1e4)),
                  }
                : {
                    dtype,
                    shape,
                    data: Uint16Array.from({ length: count }, (_, i) => ((seed + i * 7919) & 0x7bff) >>> 0),
                  };
          }
          writeSafetensors(target, tensors);
          const file = SafetensorsFile.open(target);
          try {
            expect(file.names().sort()).toEqual(Object.keys(tensors).sort());
            for (const [name, written] of Object.entries(tensors)) {
              expect(file.info(name).shape).toEqual(written.shape);
              expect(file.info(name).dtype).toBe(written.dtype);
              const raw = file.readRaw(name);
              expect(raw).toEqual(
                new Uint8Array(written.data.buffer, written.data.byteOffset, written.data.byteLength),
              );
            }
          } finally {
            file.close();
          }
        },
      ),
      { numRuns: 150, seed: 7 },
    );
  });

  it("writes Uint16Array data as raw bits", () => {
    const target = path.join(scratch, "bits.safetensors");
    writeSafetensors(target, { w: { dtype: "BF16", shape: [2], data: new Uint16Array([0x3f80, 0xc000]) } });
    const file = SafetensorsFile.open(target);
    expect(Array.from(file.readFloat32("w"))).toEqual([1, -2]);
    file.close();
  });

  it("writes F64 from a Float64Array, widest first, and refuses other data for it", () => {
    const target = path.join(scratch, "f64.safetensors");
    const doubles = Float64Array.of(0.1, -2, 1e300);
    writeSafetensors(target, {
      f: { dtype: "F32", shape: [1], data: Float32Array.of(3) },
      d: { dtype: "F64", shape: [3], data: doubles },
    });
    const file = SafetensorsFile.open(target);
    expect(file.info("d")).toMatchObject({ dtype: "F64", shape: [3], byteLength: 24 });
    expect(file.info("d").byteOffset).toBeLessThan(file.info("f").byteOffset);
    expect(Array.from(new Float64Array(file.readRaw("d").buffer))).toEqual([0.1, -2, 1e300]);
    file.close();
    expectCheckpointError(
      () => writeSafetensors(target, { d: { dtype: "F64", shape: [1], data: Float32Array.of(1) } }),
      "E_ARGUMENT",
      "f64.safetensors",
      '"d"',
      "Float64Array",
    );
  });

  it("rejects data whose length does not match the shape, and leaves no file behind", () => {
    const target = path.join(scratch, "bad-write.safetensors");
    expectCheckpointError(
      () => writeSafetensors(target, { w: { dtype: "F32", shape: [2, 3], data: new Float32Array(5) } }),
      "E_SHAPE",
      "bad-write.safetensors",
      '"w"',
      "6 elements",
    );
    expect(fs.existsSync(target)).toBe(false);
  });
});

describe("SafetensorsFile validation", () => {
  const fourFloats = new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer);

  it("rejects a file shorter than 8 bytes", () => {
    const file = path.join(scratch, "tiny.safetensors");
    fs.writeFileSync(file, Buffer.from([1, 2, 3]));
    expectCheckpointError(() => SafetensorsFile.open(file), "E_TRUNCATED", "tiny.safetensors", "3 bytes");
  });

  it("rejects a header length beyond the file", () => {
    const file = handMadeFile("long-header.safetensors", {}, new Uint8Array(0), { headerLength: 1000n });
    expectCheckpointError(
      () => SafetensorsFile.open(file),
      "E_TRUNCATED",
      "long-header.safetensors",
      "header length 1000",
    );
  });

  it("rejects a header that is not JSON or not an object", () => {
    expectCheckpointError(
      () => SafetensorsFile.open(handMadeFile("not-json.safetensors", "{oops", new Uint8Array(0))),
      "E_HEADER",
      "not JSON",
    );
    expectCheckpointError(
      () => SafetensorsFile.open(handMadeFile("array.safetensors", "[1,2]", new Uint8Array(0))),
      "E_HEADER",
      "not a JSON object",
    );
  });

  it("rejects an unknown dtype, naming the tensor", () => {
    const file = handMadeFile(
      "dtype.safetensors",
      { w: { dtype: "F17", shape: [4], data_offsets: [0, 16] } },
      fourFloats,
    );
    const error = expectCheckpointError(() => SafetensorsFile.open(file), "E_DTYPE", "dtype.safetensors", '"w"', "F17");
    expect(error.tensor).toBe("w");
    expect(error.file).toBe(file);
  });

  it("rejects shapes that are not non-negative integers", () => {
    for (const shape of [[-1], [1.5], ["4"], 4]) {
      const file = handMadeFile("shape.safetensors", { w: { dtype: "F32", shape, data_offsets: [0, 16] } }, fourFloats);
      expectCheckpointError(() => SafetensorsFile.open(file), "E_SHAPE", '"w"', "non-negative integers");
    }
  });

  it("rejects dtype × shape different from the byte length", () => {
    const file = handMadeFile(
      "mismatch.safetensors",
      { w: { dtype: "F32", shape: [2, 3], data_offsets: [0, 16] } },
      fourFloats,
    );
    expectCheckpointError(() => SafetensorsFile.open(file), "E_SHAPE", '"w"', "needs 24 bytes", "span 16");
  });

  it("rejects offsets outside the data section (a truncated file)", () => {
    const file = handMadeFile(
      "truncated.safetensors",
      { w: { dtype: "F32", shape: [8], data_offsets: [0, 32] } },
      fourFloats,
    );
    expectCheckpointError(
      () => SafetensorsFile.open(file),
      "E_OFFSETS",
      "truncated.safetensors",
      '"w"',
      "past the data section",
    );
    const reversed = handMadeFile(
      "reversed.safetensors",
      { w: { dtype: "F32", shape: [0], data_offsets: [8, 4] } },
      fourFloats,
    );
    expectCheckpointError(() => SafetensorsFile.open(reversed), "E_OFFSETS", '"w"');
  });

  it("rejects overlapping tensors", () => {
    const file = handMadeFile(
      "overlap.safetensors",
      {
        a: { dtype: "F32", shape: [3], data_offsets: [0, 12] },
        b: { dtype: "F32", shape: [2], data_offsets: [8, 16] },
      },
      fourFloats,
    );
    expectCheckpointError(() => SafetensorsFile.open(file), "E_OVERLAP", '"b"', '"a"');
  });

  it("names a missing tensor", () => {
    const file = SafetensorsFile.open(
      handMadeFile("ok.safetensors", { w: { dtype: "F32", shape: [2, 2], data_offsets: [0, 16] } }, fourFloats),
    );
    expect(Array.from(file.readFloat32("w"))).toEqual([1, 2, 3, 4]);
    expectCheckpointError(() => file.readFloat32("v"), "E_MISSING_TENSOR", "ok.safetensors", '"v"');
    file.close();
  });

  it("reports a file truncated after opening instead of returning garbage", () => {
    const target = handMadeFile(
      "shrinks.safetensors",
      { w: { dtype: "F32", shape: [4], data_offsets: [0, 16] } },
      fourFloats,
    );
    const file = SafetensorsFile.open(target);
    fs.truncateSync(target, fs.statSync(target).size - 8);
    expectCheckpointError(() => file.readFloat32("w"), "E_TRUNCATED", '"w"');
    file.close();
  });

  it("never crashes on mutated headers: a typed error or a consistent result (property)", () => {
    const valid = JSON.stringify({
      __metadata__: { format: "pt" },
      a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
      b: { dtype: "BF16", shape: [2, 2], data_offsets: [8, 16] },
    });
    const data = new Uint8Array(16).fill(0x3f);
    const mutation = fc.oneof(
      // Byte-level damage to the JSON text.
      fc.record({
        kind: fc.constant("bytes" as const),
        edits: fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 6,
        }),
      }),
      // Structurally plausible but arbitrary entries.
      fc.record({
        kind: fc.constant("entry" as const),
        dtype: fc.oneof(fc.constantFrom("F32", "F16", "BF16", "I64", "U8", "F64", "BOOL"), fc.string()),
        shape: fc.oneof(fc.array(fc.integer({ min: -2, max: 20 }), { maxLength: 4 }), fc.anything()),
        offsets: fc.oneof(fc.tuple(fc.integer({ min: -4, max: 40 }), fc.integer({ min: -4, max: 40 })), fc.anything()),
      }),
    );
    fc.assert(
      fc.property(mutation, (change) => {
        let headerBytes: Uint8Array;
        if (change.kind === "bytes") {
          headerBytes = Buffer.from(valid, "utf8");
          for (const [position, value] of change.edits) headerBytes[position] = value;
        } else {
          headerBytes = Buffer.from(
            JSON.stringify({ w: { dtype: change.dtype, shape: change.shape, data_offsets: change.offsets } }) ?? "null",
            "utf8",
          );
        }
        try {
          const { tensors } = parseSafetensorsHeader(
            headerBytes,
            8 + headerBytes.length,
            data.length,
            "fuzz.safetensors",
          );
          for (const tensor of tensors) {
            expect(tensor.byteOffset + tensor.byteLength).toBeLessThanOrEqual(8 + headerBytes.length + data.length);
            expect(tensor.shape.every((d) => Number.isInteger(d) && d >= 0)).toBe(true);
          }
        } catch (error) {
          expect(error).toBeInstanceOf(CheckpointError);
          expect((error as CheckpointError).message).toContain("fuzz.safetensors");
        }
      }),
      { numRuns: 2000, seed: 1234 },
    );
  });

  it("never crashes on random files end to end (property)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.bigInt({ min: 0n, max: 1n << 64n }), (body, length) => {
        const file = path.join(scratch, "random.safetensors");
        const prefix = Buffer.alloc(8);
        prefix.writeBigUInt64LE(length & ((1n << 64n) - 1n));
        fs.writeFileSync(file, Buffer.concat([prefix, body]));
        try {
          SafetensorsFile.open(file).close();
        } catch (error) {
          expect(error).toBeInstanceOf(CheckpointError);
        }
      }),
      { numRuns: 300, seed: 99 },
    );
  });
});

describe("SafetensorsCheckpoint", () => {
  function makeSharded(name: string): { dir: string; a: Float32Array; b: Float32Array } {
    const dir = path.join(scratch, name);
    fs.mkdirSync(dir, { recursive: true });
    const a = Float32Array.from({ length: 6 }, (_, i) => i);
    const b = Float32Array.from({ length: 4 }, (_, i) => -i);
    writeSafetensors(path.join(dir, "model-00001-of-00002.safetensors"), {
      "model.a": { dtype: "F32", shape: [2, 3], data: a },
    });
    writeSafetensors(path.join(dir, "model-00002-of-00002.safetensors"), {
      "model.b": { dtype: "BF16", shape: [4], data: b },
    });
    fs.writeFileSync(
      path.join(dir, "model.safetensors.index.json"),
      JSON.stringify({
        metadata: { total_size: 32 },
        weight_map: { "model.a": "model-00001-of-00002.safetensors", "model.b": "model-00002-of-00002.safetensors" },
      }),
    );
    return { dir, a, b };
  }

  it("opens a sharded folder through the index", () => {
    const { dir, a, b } = makeSharded("sharded");
    const checkpoint = SafetensorsCheckpoint.open(dir);
    expect(checkpoint.names()).toEqual(["model.a", "model.b"]);
    expect(checkpoint.readFloat32("model.a")).toEqual(a);
    expect(checkpoint.readFloat32("model.b")).toEqual(b);
    expect(checkpoint.readBf16Bits("model.a")).toEqual(new Uint16Array([0, 0x3f80, 0x4000, 0x4040, 0x4080, 0x40a0]));
    expect(checkpoint.info("model.b").file).toBe(path.join(dir, "model-00002-of-00002.safetensors"));
    expect(checkpoint.metadata).toEqual({ total_size: 32 });
    expectCheckpointError(() => checkpoint.info("model.c"), "E_MISSING_TENSOR", '"model.c"');
    checkpoint.close();
  });

  it("opens a single model.safetensors folder or file path", () => {
    const dir = path.join(scratch, "single");
    fs.mkdirSync(dir);
    writeSafetensors(path.join(dir, "model.safetensors"), {
      x: { dtype: "F32", shape: [1], data: new Float32Array([3]) },
    });
    for (const location of [dir, path.join(dir, "model.safetensors")]) {
      const checkpoint = SafetensorsCheckpoint.open(location);
      expect(checkpoint.readFloat32("x")).toEqual(new Float32Array([3]));
      checkpoint.close();
    }
  });

  it("names the missing shard, and a tensor the index misplaces", () => {
    const { dir } = makeSharded("missing-shard");
    fs.rmSync(path.join(dir, "model-00002-of-00002.safetensors"));
    expectCheckpointError(
      () => SafetensorsCheckpoint.open(dir),
      "E_MISSING_SHARD",
      "model.safetensors.index.json",
      "model-00002-of-00002.safetensors",
      '"model.b"',
    );
    const misplaced = makeSharded("misplaced").dir;
    fs.writeFileSync(
      path.join(misplaced, "model.safetensors.index.json"),
      JSON.stringify({ weight_map: { "model.b": "model-00001-of-00002.safetensors" } }),
    );
    expectCheckpointError(
      () => SafetensorsCheckpoint.open(misplaced),
      "E_MISSING_TENSOR",
      '"model.b"',
      "model-00001-of-00002.safetensors",
    );
  });

  it("explains a folder with no weights", () => {
    const dir = path.join(scratch, "empty-folder");
    fs.mkdirSync(dir);
    expectCheckpointError(
      () => SafetensorsCheckpoint.open(dir),
      "E_FILE_NOT_FOUND",
      "empty-folder",
      "model.safetensors",
    );
    expectCheckpointError(
      () => SafetensorsCheckpoint.open(path.join(scratch, "nowhere")),
      "E_FILE_NOT_FOUND",
      "nowhere",
    );
  });
});
