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

const goodLine = fc.oneof(
  fc.record({ instruction: fc.string({ minLength: 1, maxLength: 12 }), input: fc.string({ maxLength: 8 }), output: fc.string({ minLength: 1, maxLength: 8 }) }),
  fc.record({ prompt: fc.string({ minLength: 1, maxLength: 12 }), completion: fc.string({ minLength: 1, maxLength: 8 }) }),
).map((record) => JSON.stringify(record));
const badLine = fc.oneof(
  fc.constantFrom("{", "[]", "null", "42", '{"instruction": 3, "output": "x"}', '{"output": "x"}', '{"instruction": "a"}', "\u0000\u0001"),
  fc.string({ maxLength: 16 }),
  fc.record({ instruction: fc.oneof(fc.integer(), fc.constant(null), fc.array(fc.string())), output: fc.string() }).map((r) => JSON.stringify(r)),
);

describe("instruction-data reader under fuzzing", () => {
  it("JSONL with random good and bad lines: every record parsed or FILE:LINE named", () => {
    const runs = 1500;
    const file = path.join(directory, "train.jsonl");
    fc.assert(
      fc.property(fc.array(fc.oneof({ weight: 4, arbitrary: goodLine.map((l) => ({ l, good: true })) }, { weight: 1, arbitrary: badLine.map((l) => ({ l, good: false })) }), { maxLength: 12 }), (lines) => {
        fs.writeFileSync(file, lines.map((x) => x.l).join("\n"));
        try {
          const examples = readInstructionFile(file);
          expect(examples.length).toBeGreaterThan(0);
          expect(examples.length).toBeLessThanOrEqual(lines.length);
        } catch (error) {
          if (!(error instanceof DataError)) throw error;
          // either the file is empty/blank, or the message names this file and a line number
          expect(error.message).toMatch(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(:\\d+)?`));
        }
      }),
      { numRuns: runs, seed: 41 },
    );
    recordFuzzCases("JSONL instruction reader", runs);
  });
});
