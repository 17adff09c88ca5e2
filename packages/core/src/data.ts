// Training-data files: JSONL (one record a line) or a JSON array, each record one of
//   {instruction, input?, output, task?, id?}   Alpaca style
//   {prompt, completion, task?, id?}             plain prompt/completion
//   {messages: [{role, content}, ...], task?}    chat, the last message being the assistant's answer
// Every record is validated; the first bad one fails the whole file with `FILE:LINE: reason`.

import fs from "node:fs";
import { z } from "zod";
import { DataError } from "./errors.js";
import type { ChatMessage } from "./tokenizer.js";

type Common = { task?: string; id?: string | number; file: string; line: number };
export type AlpacaExample = Common & { format: "alpaca"; instruction: string; input: string; output: string };
export type CompletionExample = Common & { format: "completion"; prompt: string; completion: string };
export type ChatExample = Common & { format: "chat"; messages: ChatMessage[] };
export type InstructionExample = AlpacaExample | CompletionExample | ChatExample;

const optionalCommon = {
  task: z.string().optional(),
  id: z.union([z.string(), z.number()]).optional(),
};
const alpacaSchema = z.object({
  instruction: z.string(),
  input: z.string().nullish(),
  output: z.string(),
  ...optionalCommon,
});
const completionSchema = z.object({ prompt: z.string(), completion: z.string(), ...optionalCommon });
const chatSchema = z.object({
  messages: z.array(z.object({ role: z.string().min(1), content: z.string() })).min(1),
  ...optionalCommon,
});

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `${typeof value} ${JSON.stringify(value)}`;
}

function validate<T>(schema: z.ZodType<T>, record: Record<string, unknown>, where: { file: string; line: number }): T {
  const result = schema.safeParse(record);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue.path
    .map((part) => (typeof part === "number" ? `[${part}]` : `.${String(part)}`))
    .join("")
    .slice(1);
  const value = issue.path.reduce<unknown>(
    (current, key) => (current as Record<PropertyKey, unknown> | undefined)?.[key as string],
    record,
  );
  const expectation =
    issue.code === "invalid_type"
      ? `must be ${issue.expected === "array" || issue.expected === "object" ? "an" : "a"} ${issue.expected}`
      : issue.message.toLowerCase();
  const reason =
    value === undefined ? `missing field "${field}"` : `field "${field}" ${expectation} (got ${describe(value)})`;
  throw new DataError("E_FIELD", reason, where);
}

/** Validates one record (already parsed from JSON) and gives it its normal form. */
export function parseInstructionRecord(record: unknown, where: { file: string; line: number }): InstructionExample {
  if (typeof record !== "object" || record === null || Array.isArray(record)) {
    throw new DataError("E_FIELD", `a record must be a JSON object, got ${describe(record)}`, where);
  }
  const fields = record as Record<string, unknown>;
  if ("messages" in fields) {
    const chat = validate(chatSchema, fields, where);
    const last = chat.messages[chat.messages.length - 1];
    if (last.role !== "assistant") {
      throw new DataError(
        "E_FIELD",
        `the last message must be the assistant's answer (role "assistant"), got role "${last.role}"`,
        where,
      );
    }
    return { format: "chat", messages: chat.messages, task: chat.task, id: chat.id, ...where };
  }
  if ("prompt" in fields || "completion" in fields) {
    const completion = validate(completionSchema, fields, where);
    return {
      format: "completion",
      prompt: completion.prompt,
      completion: completion.completion,
      task: completion.task,
      id: completion.id,
      ...where,
    };
  }
  if (!("instruction" in fields) && !("output" in fields)) {
    throw new DataError(
      "E_FIELD",
      "a record needs {instruction, input?, output}, {prompt, completion} or {messages}",
      where,
    );
  }
  const alpaca = validate(alpacaSchema, fields, where);
  return {
    format: "alpaca",
    instruction: alpaca.instruction,
    input: alpaca.input ?? "",
    output: alpaca.output,
    task: alpaca.task,
    id: alpaca.id,
    ...where,
  };
}

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Where each element of a top-level JSON array starts (so errors can name its line). */
function arrayElementOffsets(text: string): number[] {
  const offsets: number[] = [];
  let depth = 0;
  let inString = false;
  let expectingElement = false;
  for (let i = 0; i < text.length; i++) {
    const character = text[i];
    if (inString) {
      if (character === "\\") i++;
      else if (character === '"') inString = false;
      continue;
    }
    if (/\s/.test(character)) continue;
    if (depth === 1 && expectingElement && character !== "]") {
      offsets.push(i);
      expectingElement = false;
    }
    if (character === '"') inString = true;
    else if (character === "[" || character === "{") {
      depth++;
      if (depth === 1) expectingElement = true;
    } else if (character === "]" || character === "}") depth--;
    else if (character === "," && depth === 1) expectingElement = true;
  }
  return offsets;
}

function jsonErrorLine(text: string, error: Error, fallback: number): number {
  const position = /position (\d+)/.exec(error.message);
  return position ? lineAt(text, Number(position[1])) : fallback;
}

/** Reads a .jsonl or .json training file; throws DataError `FILE:LINE: reason` on the first bad record. */
export function readInstructionFile(file: string): InstructionExample[] {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new DataError("E_FILE_NOT_FOUND", `cannot read (${code ?? (error as Error).message})`, { file });
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim().length === 0) throw new DataError("E_EMPTY", "the file is empty: no training examples", { file });

  const examples: InstructionExample[] = [];
  const isJsonArray = text.trimStart().startsWith("[");
  if (!isJsonArray && file.toLowerCase().endsWith(".json") && text.trim().split("\n").length > 1) {
    // A pretty-printed object in a .json file would otherwise fail as "bad JSON on line 1".
    throw new DataError(
      "E_JSON",
      "a .json training file must hold an array of records (or use .jsonl: one record a line)",
      { file, line: 1 },
    );
  }
  if (isJsonArray) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new DataError("E_JSON", `not valid JSON (${(error as Error).message})`, {
        file,
        line: jsonErrorLine(text, error as Error, 1),
      });
    }
    const records = parsed as unknown[];
    const offsets = arrayElementOffsets(text);
    records.forEach((record, index) => {
      examples.push(parseInstructionRecord(record, { file, line: lineAt(text, offsets[index] ?? 0) }));
    });
  } else {
    const lines = text.split("\n");
    lines.forEach((content, index) => {
      if (content.trim().length === 0) return;
      const where = { file, line: index + 1 };
      let record: unknown;
      try {
        record = JSON.parse(content);
      } catch (error) {
        throw new DataError("E_JSON", `not valid JSON (${(error as Error).message})`, where);
      }
      examples.push(parseInstructionRecord(record, where));
    });
  }
  if (examples.length === 0) throw new DataError("E_EMPTY", "no training examples (the JSON array is empty)", { file });
  return examples;
}

export type PromptFormatting = {
  /** Renders an Alpaca record's prompt (e.g. @pillow/suite's formatPrompt); the output is the completion. */
  formatInstruction?: (example: { instruction: string; input: string }) => string;
  /** Renders chat messages (e.g. `tokenizer.applyChatTemplate.bind(tokenizer)`). */
  chatTemplate?: (messages: ChatMessage[], options: { addGenerationPrompt: boolean }) => string;
};

/**
 * The prompt (not trained on) and completion (trained on) of an example. A chat's completion is
 * what the template adds for the final assistant message after the generation prompt.
 */
export function toPromptCompletion(
  example: InstructionExample,
  formatting: PromptFormatting = {},
): { prompt: string; completion: string } {
  const where = { file: example.file, line: example.line };
  switch (example.format) {
    case "completion":
      return { prompt: example.prompt, completion: example.completion };
    case "alpaca":
      if (!formatting.formatInstruction)
        throw new DataError("E_FIELD", "an instruction record needs a prompt template (formatInstruction)", where);
      return {
        prompt: formatting.formatInstruction({ instruction: example.instruction, input: example.input }),
        completion: example.output,
      };
    case "chat": {
      if (!formatting.chatTemplate)
        throw new DataError("E_FIELD", "a chat record needs a chat template (the model's tokenizer has none)", where);
      const prompt = formatting.chatTemplate(example.messages.slice(0, -1), { addGenerationPrompt: true });
      const full = formatting.chatTemplate(example.messages, { addGenerationPrompt: false });
      if (!full.startsWith(prompt)) {
        throw new DataError(
          "E_FIELD",
          "the chat template does not render the conversation as prompt + answer, so the answer cannot be isolated",
          where,
        );
      }
      return { prompt, completion: full.slice(prompt.length) };
    }
  }
}
