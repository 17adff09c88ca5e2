// The one prompt template shared by core, cli and the tiny model's pretraining corpus: Alpaca-style
// blocks, compact because the tiny model's context is 512 bytes.
import type { Instance } from "./suite.js";

export type PromptInput = {
  instruction: string;
  input?: string;
  /** Demonstrations, rendered before the query in the given order. */
  demos?: Pick<Instance, "instruction" | "input" | "output">[];
  /**
   * Budget in UTF-8 bytes for the whole prompt. Demonstrations are dropped from the front (the
   * first listed goes first) until the prompt fits; the query itself is never cut.
   */
  maxBytes?: number;
};

/** Generation should stop at the first of these: every answer is one line. */
export const promptStopStrings = ["\n"];

/**
 * The training target for an answer: the answer and its newline, as the tiny model was pretrained,
 * to be trained WITHOUT an appended EOS (core's `train(..., { appendEos: false })`). The tiny model
 * never saw `</s>`: teaching it a new end token costs ~8 nats per example at first, and LoRA updates
 * chasing that loss damage every task (measured: acronym 100 → 20 ROUGE-L after 10 steps at lr 2e-3).
 */
export function formatResponse(output: string): string {
  return `${output}\n`;
}

function block(instruction: string, input: string | undefined): string {
  const inputPart = input !== undefined && input.length > 0 ? `### Input:\n${input}\n` : "";
  return `### Instruction:\n${instruction}\n${inputPart}### Response:\n`;
}

/** One demonstration: its block, its answer and a blank line. */
export function formatDemonstration(demo: Pick<Instance, "instruction" | "input" | "output">): string {
  return `${block(demo.instruction, demo.input)}${demo.output}\n\n`;
}

const byteLength = (text: string) => Buffer.byteLength(text, "utf8");

/** The demonstrations that fit with the query in maxBytes, keeping the last ones listed. */
export function fitDemonstrations<T extends Pick<Instance, "instruction" | "input" | "output">>(
  query: { instruction: string; input?: string },
  demos: readonly T[],
  maxBytes: number,
): T[] {
  if (!(maxBytes > 0)) throw new Error(`fitDemonstrations: maxBytes must be positive, got ${maxBytes}`);
  let used = byteLength(block(query.instruction, query.input));
  const kept: T[] = [];
  for (let i = demos.length - 1; i >= 0; i--) {
    const cost = byteLength(formatDemonstration(demos[i]));
    if (used + cost > maxBytes) break;
    used += cost;
    kept.unshift(demos[i]);
  }
  return kept;
}

export function formatPrompt(prompt: PromptInput): string {
  if (typeof prompt.instruction !== "string") {
    throw new Error("formatPrompt: instruction must be a string");
  }
  const demos =
    prompt.maxBytes === undefined
      ? (prompt.demos ?? [])
      : fitDemonstrations(prompt, prompt.demos ?? [], prompt.maxBytes);
  return demos.map(formatDemonstration).join("") + block(prompt.instruction, prompt.input);
}
