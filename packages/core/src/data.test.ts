import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { parseInstructionRecord, readInstructionFile, toPromptCompletion } from "./data.js";
import { DataError } from "./errors.js";

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-data-"));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = path.join(scratch, name);
  fs.writeFileSync(file, text);
  return file;
}

function expectDataError(file: string, message: string): void {
  try {
    readInstructionFile(file);
  } catch (error) {
    expect(error).toBeInstanceOf(DataError);
    expect((error as Error).message).toBe(message);
    return;
  }
  throw new Error("expected a DataError");
}

describe("readInstructionFile", () => {
  it("reads the three record forms from JSONL, skipping blank lines", () => {
    const file = write(
      "mixed.jsonl",
      [
        JSON.stringify({ instruction: "Add.", input: "1 + 2", output: "3", task: "math" }),
        "",
        JSON.stringify({ instruction: "Say hi.", output: "hi", id: 7 }),
        JSON.stringify({ prompt: "Q: 2+2?\nA:", completion: " 4" }),
        "   ",
        JSON.stringify({
          messages: [
            { role: "user", content: "hello" },
            { role: "assistant", content: "hi there" },
          ],
        }),
      ].join("\n"),
    );
    const examples = readInstructionFile(file);
    expect(examples).toEqual([
      {
        format: "alpaca",
        instruction: "Add.",
        input: "1 + 2",
        output: "3",
        task: "math",
        id: undefined,
        file,
        line: 1,
      },
      { format: "alpaca", instruction: "Say hi.", input: "", output: "hi", task: undefined, id: 7, file, line: 3 },
      { format: "completion", prompt: "Q: 2+2?\nA:", completion: " 4", task: undefined, id: undefined, file, line: 4 },
      {
        format: "chat",
        messages: [
          { role: "user", content: "hello" },
          { role: "assistant", content: "hi there" },
        ],
        task: undefined,
        id: undefined,
        file,
        line: 6,
      },
    ]);
  });

  it("reads a JSON array and names the line of a bad element", () => {
    const good = write(
      "good.json",
      JSON.stringify(
        [
          { instruction: "a", output: "b" },
          { prompt: "c", completion: "d" },
        ],
        null,
        2,
      ),
    );
    expect(readInstructionFile(good).map((example) => [example.format, example.line])).toEqual([
      ["alpaca", 2],
      ["completion", 6],
    ]);
    const bad = write(
      "bad.json",
      '[\n  {"instruction": "a", "output": "b"},\n  {"instruction": "a",\n   "output": 5}\n]',
    );
    expectDataError(bad, `${bad}:3: field "output" must be a string (got number 5)`);
  });

  it("reports FILE:LINE for bad JSON, missing fields, wrong types and bad chats", () => {
    const header = JSON.stringify({ instruction: "ok", output: "ok" });
    const cases: [string, string][] = [
      ["{not json", "not valid JSON"],
      [JSON.stringify({ instruction: "x" }), 'missing field "output"'],
      [JSON.stringify({ instruction: 3, output: "y" }), 'field "instruction" must be a string (got number 3)'],
      [JSON.stringify({ prompt: "x" }), 'missing field "completion"'],
      [JSON.stringify({ messages: [] }), 'field "messages"'],
      [JSON.stringify({ messages: [{ role: "user", content: 1 }] }), 'field "messages[0].content"'],
      [
        JSON.stringify({
          messages: [
            { role: "assistant", content: "a" },
            { role: "user", content: "b" },
          ],
        }),
        'role "user"',
      ],
      [JSON.stringify([1, 2]), "must be a JSON object, got an array"],
      [JSON.stringify({ text: "free text" }), "a record needs"],
    ];
    for (const [line, fragment] of cases) {
      const file = write("case.jsonl", `${header}\n${line}\n`);
      try {
        readInstructionFile(file);
        throw new Error(`accepted ${line}`);
      } catch (error) {
        expect(error).toBeInstanceOf(DataError);
        expect((error as DataError).line).toBe(2);
        expect((error as Error).message.startsWith(`${file}:2: `)).toBe(true);
        expect((error as Error).message).toContain(fragment);
      }
    }
  });

  it("explains an empty or missing file", () => {
    expectDataError(
      write("empty.jsonl", ""),
      `${path.join(scratch, "empty.jsonl")}: the file is empty: no training examples`,
    );
    expectDataError(
      write("blank.jsonl", "\n  \n"),
      `${path.join(scratch, "blank.jsonl")}: the file is empty: no training examples`,
    );
    expectDataError(
      write("empty.json", "[]"),
      `${path.join(scratch, "empty.json")}: no training examples (the JSON array is empty)`,
    );
    expect(() => readInstructionFile(path.join(scratch, "missing.jsonl"))).toThrowError(
      /missing\.jsonl: cannot read \(ENOENT\)/,
    );
    const object = write("object.json", JSON.stringify({ data: [{ instruction: "a", output: "b" }] }, null, 2));
    expectDataError(
      object,
      `${object}:1: a .json training file must hold an array of records (or use .jsonl: one record a line)`,
    );
  });
});

describe("toPromptCompletion", () => {
  it("formats each record form", () => {
    const [alpaca, completion, chat] = readInstructionFile(
      write(
        "forms.jsonl",
        [
          JSON.stringify({ instruction: "Add.", input: "1 + 2", output: "3" }),
          JSON.stringify({ prompt: "P", completion: "C" }),
          JSON.stringify({
            messages: [
              { role: "user", content: "hi" },
              { role: "assistant", content: "yo" },
            ],
          }),
        ].join("\n"),
      ),
    );
    const formatInstruction = ({ instruction, input }: { instruction: string; input: string }) =>
      `### ${instruction}\n${input}\n### Response:\n`;
    expect(toPromptCompletion(alpaca, { formatInstruction })).toEqual({
      prompt: "### Add.\n1 + 2\n### Response:\n",
      completion: "3",
    });
    expect(toPromptCompletion(completion)).toEqual({ prompt: "P", completion: "C" });
    const chatTemplate = (
      messages: { role: string; content: string }[],
      { addGenerationPrompt }: { addGenerationPrompt: boolean },
    ) =>
      messages.map((message) => `<${message.role}>${message.content}</s>`).join("") +
      (addGenerationPrompt ? "<assistant>" : "");
    expect(toPromptCompletion(chat, { chatTemplate })).toEqual({
      prompt: "<user>hi</s><assistant>",
      completion: "yo</s>",
    });
    expect(() => toPromptCompletion(alpaca)).toThrowError(/forms\.jsonl:1: .*prompt template/);
    expect(() => toPromptCompletion(chat)).toThrowError(/forms\.jsonl:3: .*chat template/);
  });
});

describe("parseInstructionRecord (property)", () => {
  it("gives a typed DataError naming FILE:LINE, or a record with the documented fields, for any JSON value", () => {
    const shaped = fc.record(
      {
        instruction: fc.oneof(fc.string(), fc.jsonValue()),
        input: fc.oneof(fc.string(), fc.jsonValue()),
        output: fc.oneof(fc.string(), fc.jsonValue()),
        prompt: fc.oneof(fc.string(), fc.jsonValue()),
        completion: fc.string(),
        messages: fc.oneof(
          fc.array(
            fc.record({ role: fc.constantFrom("user", "assistant", ""), content: fc.oneof(fc.string(), fc.integer()) }),
          ),
          fc.jsonValue(),
        ),
        task: fc.oneof(fc.string(), fc.integer()),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(shaped, fc.jsonValue()), (record) => {
        try {
          const example = parseInstructionRecord(record, { file: "fuzz.jsonl", line: 9 });
          expect(example.line).toBe(9);
          if (example.format === "alpaca")
            expect(typeof example.instruction + typeof example.input + typeof example.output).toBe(
              "stringstringstring",
            );
          if (example.format === "completion")
            expect(typeof example.prompt + typeof example.completion).toBe("stringstring");
          if (example.format === "chat") expect(example.messages.at(-1)?.role).toBe("assistant");
        } catch (error) {
          expect(error).toBeInstanceOf(DataError);
          expect((error as Error).message.startsWith("fuzz.jsonl:9: ")).toBe(true);
        }
      }),
      { numRuns: 1500, seed: 11 },
    );
  });
});
