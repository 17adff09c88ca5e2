import { describe, expect, it } from "vitest";
import {
  fitDemonstrations,
  formatDemonstration,
  formatInstructionBlock,
  formatPrompt,
  formatResponse,
  promptStopStrings,
} from "./prompt-template.js";

const demos = [
  { instruction: "Pluralize the word.", input: "cat", output: "cats" },
  { instruction: "Answer.", input: "2 + 2", output: "4" },
];

describe("formatPrompt, compact layout (the suite's tiny model)", () => {
  it("renders the query block alone, and omits an empty input section", () => {
    expect(formatPrompt({ instruction: "Calculate.", input: "1 + 2" })).toBe(
      "### Instruction:\nCalculate.\n### Input:\n1 + 2\n### Response:\n",
    );
    expect(formatPrompt({ instruction: "Say hi.", input: "" })).toBe("### Instruction:\nSay hi.\n### Response:\n");
    expect(formatPrompt({ instruction: "Say hi." })).toBe("### Instruction:\nSay hi.\n### Response:\n");
  });

  it("puts demonstrations first, each answered and followed by a blank line", () => {
    expect(formatPrompt({ instruction: "Transform this word.", input: "dog", demos })).toBe(
      "### Instruction:\nPluralize the word.\n### Input:\ncat\n### Response:\ncats\n\n" +
        "### Instruction:\nAnswer.\n### Input:\n2 + 2\n### Response:\n4\n\n" +
        "### Instruction:\nTransform this word.\n### Input:\ndog\n### Response:\n",
    );
    expect(promptStopStrings).toEqual(["\n"]);
  });

  it("drops the earliest demonstrations until the prompt fits the byte budget", () => {
    const query = { instruction: "Transform this word.", input: "dog" };
    const full = formatPrompt({ ...query, demos });
    const lastDemoOnly = formatDemonstration(demos[1]) + formatPrompt(query);
    expect(formatPrompt({ ...query, demos, maxBytes: Buffer.byteLength(full) })).toBe(full);
    expect(formatPrompt({ ...query, demos, maxBytes: Buffer.byteLength(full) - 1 })).toBe(lastDemoOnly);
    expect(formatPrompt({ ...query, demos, maxBytes: Buffer.byteLength(lastDemoOnly) })).toBe(lastDemoOnly);
    expect(formatPrompt({ ...query, demos, maxBytes: 10 })).toBe(formatPrompt(query));
    expect(fitDemonstrations(query, demos, Buffer.byteLength(full))).toEqual(demos);
    expect(() => fitDemonstrations(query, demos, 0)).toThrow(/maxBytes must be positive/);
  });

  it("counts bytes, not characters", () => {
    const query = { instruction: "Answer.", input: "x" };
    const demo = { instruction: "Answer.", input: "caf\u00e9", output: "ok" };
    const exact = Buffer.byteLength(formatPrompt({ ...query, demos: [demo] }));
    expect(formatPrompt({ ...query, demos: [demo], maxBytes: exact - 1 })).toBe(formatPrompt(query));
  });
});

describe("formatResponse", () => {
  it("is the answer exactly as a demonstration renders it after the prompt (answer, newline)", () => {
    const demo = { instruction: "Pluralize the word.", input: "cat", output: "cats" };
    expect(formatPrompt(demo) + formatResponse(demo.output)).toBe(formatDemonstration(demo).slice(0, -1));
    expect(formatResponse("cats").endsWith(promptStopStrings[0])).toBe(true);
  });
});

// The exact text each former copy produced (cli server/demos.ts formatDemosAlpaca, rl rollout.ts
// defaultTemplate, replay alpacaPrompt), written out by hand: the move must not change a byte.
describe("formatPrompt, spaced layout (the server's and rl's template)", () => {
  const mixed = [
    { instruction: "Pluralize the word.", input: "cat", output: "cats" },
    { instruction: "Say hi.", input: "", output: "hi" },
    { instruction: "Greet", output: "hello" },
  ];
  const spacedDemos =
    "### Instruction:\nPluralize the word.\n\n### Input:\ncat\n\n### Response:\ncats\n\n" +
    "### Instruction:\nSay hi.\n\n### Response:\nhi\n\n" +
    "### Instruction:\nGreet\n\n### Response:\nhello\n\n";

  it("separates the sections by blank lines, demonstrations with and without input", () => {
    expect(mixed.map((demo) => formatDemonstration(demo, "spaced")).join("")).toBe(spacedDemos);
    expect(formatPrompt({ instruction: "Add", input: "1 2", demos: mixed, layout: "spaced" })).toBe(
      `${spacedDemos}### Instruction:\nAdd\n\n### Input:\n1 2\n\n### Response:\n`,
    );
    expect(formatPrompt({ instruction: "Add", input: "", demos: mixed, layout: "spaced" })).toBe(
      `${spacedDemos}### Instruction:\nAdd\n\n### Response:\n`,
    );
    expect(formatPrompt({ instruction: "Add", layout: "spaced" })).toBe("### Instruction:\nAdd\n\n### Response:\n");
  });

  it("fits the byte budget by the spaced lengths", () => {
    const query = { instruction: "Add", input: "1 2", layout: "spaced" as const };
    const full = formatPrompt({ ...query, demos: mixed });
    expect(formatPrompt({ ...query, demos: mixed, maxBytes: Buffer.byteLength(full) })).toBe(full);
    expect(formatPrompt({ ...query, demos: mixed, maxBytes: Buffer.byteLength(full) - 1 })).toBe(
      "### Instruction:\nSay hi.\n\n### Response:\nhi\n\n### Instruction:\nGreet\n\n### Response:\nhello\n\n" +
        "### Instruction:\nAdd\n\n### Input:\n1 2\n\n### Response:\n",
    );
  });

  it("compact and spaced differ only by the blank lines inside a block", () => {
    expect(formatInstructionBlock({ instruction: "Add", input: "1 2" })).toBe(
      "### Instruction:\nAdd\n### Input:\n1 2\n### Response:\n",
    );
    expect(formatInstructionBlock({ instruction: "Add", input: "1 2" }, "spaced").replaceAll("\n\n", "\n")).toBe(
      formatInstructionBlock({ instruction: "Add", input: "1 2" }),
    );
  });
});
