import type { Random } from "../random.js";

/** One generated example before an instruction phrasing is attached. */
export type Example = { input: string; output: string };

/** An instruction wording and its share of the task's instances. */
export type Phrasing = { text: string; weight: number };

export type TaskDefinition = {
  name: string;
  category: string;
  phrasings: Phrasing[];
  /** Draws one example; undefined means "rejected, draw again" (e.g. a too-long string). */
  draw(random: Random): Example | undefined;
};

/**
 * Deliberately vague instructions, each shared by several tasks: with one of these, only the
 * demonstrations tell which task is meant (the situation PILLOW's prompt matching exploits).
 */
export const vague = {
  answer: "Answer.",
  respond: "Respond.",
  findIt: "Find it.",
  giveResult: "Give the result.",
  processInput: "Process the input.",
  rewrite: "Rewrite this.",
  transformWord: "Transform this word.",
  shorten: "Shorten this.",
  classifyWord: "Classify this word.",
  labelInput: "Label the input.",
  evaluateText: "Evaluate this text.",
} as const;

/** Three specific phrasings (most to least frequent) and two vague ones. */
export function phrasings(specific: [string, string, string], vagueOnes: [string, string]): Phrasing[] {
  return [
    { text: specific[0], weight: 0.3 },
    { text: specific[1], weight: 0.2 },
    { text: specific[2], weight: 0.15 },
    { text: vagueOnes[0], weight: 0.2 },
    { text: vagueOnes[1], weight: 0.15 },
  ];
}
