// The one Alpaca-style prompt template ("### Instruction:" / "### Input:" / "### Response:" blocks),
// here in core so that every layer above (suite, replay, rl, cli) renders prompts the same way.
// Two layouts of the same blocks, because models were tuned on both and a byte changes the answers:
//   "compact": no blank lines inside a block — the suite's tiny model was pretrained on it, and its
//              context is 512 bytes;
//   "spaced":  a blank line between the sections, as in the Alpaca paper's template (without its
//              preamble) — the server's default for real models, and rl's plain template.
// In both, a demonstration is its block, its answer and a blank line, and the query's block ends
// with "### Response:\n" so that the model writes the answer next.

export type PromptLayout = "compact" | "spaced";

/** An instruction and its optional input; an empty input gets no "### Input:" section. */
export type PromptQuery = { instruction: string; input?: string };

/** A demonstration: a query answered. */
export type PromptDemonstration = PromptQuery & { output: string };

export type PromptInput = PromptQuery & {
  /** Demonstrations, rendered before the query in the given order. */
  demos?: readonly PromptDemonstration[];
  /**
   * Budget in UTF-8 bytes for the whole prompt. Demonstrations are dropped from the front (the
   * first listed goes first) until the prompt fits; the query itself is never cut.
   */
  maxBytes?: number;
  /** Default "compact". */
  layout?: PromptLayout;
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

/** The block of one query, up to and including "### Response:\n". */
export function formatInstructionBlock(query: PromptQuery, layout: PromptLayout = "compact"): string {
  const { instruction, input } = query;
  const hasInput = input !== undefined && input.length > 0;
  if (layout === "spaced") {
    return `### Instruction:\n${instruction}\n\n${hasInput ? `### Input:\n${input}\n\n` : ""}### Response:\n`;
  }
  return `### Instruction:\n${instruction}\n${hasInput ? `### Input:\n${input}\n` : ""}### Response:\n`;
}

/** One demonstration: its block, its answer and a blank line. */
export function formatDemonstration(demo: PromptDemonstration, layout: PromptLayout = "compact"): string {
  return `${formatInstructionBlock(demo, layout)}${demo.output}\n\n`;
}

const byteLength = (text: string) => Buffer.byteLength(text, "utf8");

/** The demonstrations that fit with the query in maxBytes, keeping the last ones listed. */
export function fitDemonstrations<T extends PromptDemonstration>(
  query: PromptQuery,
  demos: readonly T[],
  maxBytes: number,
  layout: PromptLayout = "compact",
): T[] {
  if (!(maxBytes > 0)) throw new Error(`fitDemonstrations: maxBytes must be positive, got ${maxBytes}`);
  let used = byteLength(formatInstructionBlock(query, layout));
  const kept: T[] = [];
  for (let i = demos.length - 1; i >= 0; i--) {
    const cost = byteLength(formatDemonstration(demos[i], layout));
    if (used + cost > maxBytes) break;
    used += cost;
    kept.unshift(demos[i]);
  }
  return kept;
}

/** The demonstrations (those that fit maxBytes, when given), then the query's block. */
export function formatPrompt(prompt: PromptInput): string {
  if (typeof prompt.instruction !== "string") {
    throw new Error("formatPrompt: instruction must be a string");
  }
  const layout = prompt.layout ?? "compact";
  const demos =
    prompt.maxBytes === undefined
      ? (prompt.demos ?? [])
      : fitDemonstrations(prompt, prompt.demos ?? [], prompt.maxBytes, layout);
  return demos.map((demo) => formatDemonstration(demo, layout)).join("") + formatInstructionBlock(prompt, layout);
}
