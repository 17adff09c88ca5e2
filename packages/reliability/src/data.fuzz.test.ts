// Training-data readers on mutated JSONL: examples with the right fields, or a DataError whose
// message is `FILE:LINE: reason` pointing at the first bad line.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DataError, readInstructionFile } from "@pillow/core";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { recordFuzzCases } from "./fuzz-count.js";

const directory = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-data-fuzz-"));
afterAll(() => fs.rmSync(directory, { recursive: true, force: true }));

const goodLine = fc
  .oneof(
    fc.record({
      instruction: fc.string({ minLength: 1, maxLength: 12 }),
      input: fc.string({ maxLength: 8 }),
      output: fc.string({ minLength: 1, maxLength: 8 }),
    }),
    fc.record({
      prompt: fc.string({ minLength: 1, maxLength: 12 }),
      completion: fc.string({ minLength: 1, maxLength: 8 }),
    }),
  )
  .map((record) => JSON.stringify(record));
// Lines that are bad on their own: never blank, never starting with "[" (a first line "[" would make the
// file a JSON array), never holding a line break (one generated line is one file line).
const badLine = fc
  .oneof(
    fc.constantFrom(
      "{",
      "null",
      "42",
      '{"instruction": 3, "output": "x"}',
      '{"output": "x"}',
      '{"instruction": "a"}',
      "\u0000\u0001",
      "[]",
    ),
    fc.string({ maxLength: 16 }).map((text) => `x${text}`),
    fc
      .record({ instruction: fc.oneof(fc.integer(), fc.constant(null), fc.array(fc.string())), output: fc.string() })
      .map((r) => JSON.stringify(r)),
  )
  .map((line) => line.replace(/[\r\n]/g, " "));

describe("instruction-data reader under fuzzing", () => {
  it("JSONL with random good and bad lines: every record parsed, or a DataError naming the file and the first bad line", () => {
    const runs = 1500;
    const file = path.join(directory, "train.jsonl");
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            { weight: 4, arbitrary: goodLine.map((l) => ({ l, good: true })) },
            { weight: 1, arbitrary: badLine.map((l) => ({ l, good: false })) },
          ),
          {
            minLength: 1,
            maxLength: 12,
          },
        ),
        (lines) => {
          fc.pre(lines[0].good || !lines[0].l.startsWith("["));
          fs.writeFileSync(file, lines.map((x) => x.l).join("\n"));
          const firstBad = lines.findIndex((x) => !x.good);
          if (firstBad === -1) {
            expect(readInstructionFile(file).length).toBe(lines.length);
            return;
          }
          let caught: unknown;
          try {
            readInstructionFile(file);
          } catch (error) {
            caught = error;
          }
          expect(caught).toBeInstanceOf(DataError);
          const error = caught as DataError;
          expect(error.file).toBe(file);
          expect(error.line).toBe(firstBad + 1);
          expect(error.message.startsWith(`${file}:${firstBad + 1}: `)).toBe(true);
        },
      ),
      { numRuns: runs, seed: 41 },
    );
    recordFuzzCases("JSONL instruction reader", runs);
  });
});
