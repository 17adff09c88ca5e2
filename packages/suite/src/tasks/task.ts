import type { Random } from "../random.js";

/** One generated example before an instruction phrasing is attached. */
export type Example = { input: string; output: string };

/**
 * An instruction wording, its kind and its share of the task's instances. `unseen` phrasings stand
 * for the wordings a user brings: they are in the suite's splits but never in the tiny model's
 * pretraining corpus, so the base model cannot know what they ask for, and only demonstrations tell it.
 */
export type Phrasing = { text: string; weight: number; kind: "specific" | "vague" | "unseen" };

export type TaskDefinition = {
  name: string;
  category: string;
  /** The family whose input generator the task shares (see inputs.ts). */
  family: string;
  phrasings: Phrasing[];
  /** Draws one example; undefined means "rejected, draw again" (e.g. a too-long string). */
  draw(random: Random): Example | undefined;
};

/**
 * Deliberately vague instructions. Every task of an input family shares its family's vague wording
 * and draws its inputs from the same generator, so with one of these (or an unseen wording) neither
 * the instruction nor the input says which task is meant: only demonstrations do. That is the
 * situation in-context learning and PILLOW's prompt matching exist for.
 */
export const vague = {
  word: "Transform this word.",
  number: "Use this number.",
  phrase: "Change these words.",
  sentence: "Read the sentence.",
  dialogue: "Continue.",
  processInput: "Process the input.",
  giveResult: "Give the result.",
  rewrite: "Rewrite this.",
  answer: "Answer.",
  respond: "Respond.",
} as const;

/**
 * A task's seven phrasings: three specific ones (most to least frequent), its family's vague one, a
 * generic vague one, and two unseen ones. Shares: specific 45 %, vague 25 %, unseen 30 %.
 */
export function phrasings(
  specific: [string, string, string],
  vagueOnes: [string, string],
  unseen: [string, string],
): Phrasing[] {
  return [
    { text: specific[0], weight: 0.2, kind: "specific" },
    { text: specific[1], weight: 0.15, kind: "specific" },
    { text: specific[2], weight: 0.1, kind: "specific" },
    { text: vagueOnes[0], weight: 0.15, kind: "vague" },
    { text: vagueOnes[1], weight: 0.1, kind: "vague" },
    { text: unseen[0], weight: 0.15, kind: "unseen" },
    { text: unseen[1], weight: 0.15, kind: "unseen" },
  ];
}
