import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CheckpointError } from "./errors.js";
import { writeFileAtomically } from "./write-file-atomically.js";

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-atomic-"));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

describe("writeFileAtomically", () => {
  it("writes text as UTF-8, bytes as given, or what a callback writes, replacing the old file", () => {
    const file = path.join(scratch, "out.txt");
    fs.writeFileSync(file, "old contents that are longer");
    writeFileAtomically(file, "héllo\n");
    expect(fs.readFileSync(file)).toEqual(Buffer.from([0x68, 0xc3, 0xa9, 0x6c, 0x6c, 0x6f, 0x0a]));
    writeFileAtomically(file, Uint8Array.of(1, 2, 3));
    expect([...fs.readFileSync(file)]).toEqual([1, 2, 3]);
    writeFileAtomically(file, (fd) => {
      fs.writeSync(fd, "a");
      fs.writeSync(fd, "b");
    });
    expect(fs.readFileSync(file, "utf8")).toBe("ab");
    expect(fs.readdirSync(scratch)).toEqual(["out.txt"]);
  });

  it("fails with E_WRITE naming the file, leaving the old file and no temporary behind", () => {
    const file = path.join(scratch, "kept.txt");
    fs.writeFileSync(file, "kept");
    let caught: unknown;
    try {
      writeFileAtomically(file, () => {
        throw new Error("disk full");
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(CheckpointError);
    expect((caught as CheckpointError).code).toBe("E_WRITE");
    expect((caught as Error).message).toContain("kept.txt");
    expect((caught as Error).message).toContain("disk full");
    expect(fs.readFileSync(file, "utf8")).toBe("kept");
    expect(fs.readdirSync(scratch).filter((name) => name.startsWith("kept.txt"))).toEqual(["kept.txt"]);
    expect(() => writeFileAtomically(path.join(scratch, "missing", "x.txt"), "x")).toThrow(/missing.*cannot write/);
  });
});
