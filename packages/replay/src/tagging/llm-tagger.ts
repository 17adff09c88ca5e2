// InsCL's "intention tagging system": a language model is asked for a JSON list of
// {tag, explanation}; the reply is parsed leniently because models wrap, truncate or decorate JSON.
import type { GenerateOptions, GenerationBackend } from "@pillow/core";
import { ReplayError } from "../errors.js";
import { normaliseTag } from "./normalise-tag.js";
import type { Tagger } from "./tagger.js";

export function intentionTaggingPrompt(instruction: string): string {
  return [
    "You are an intention tagging system. Your tags help tell apart the instructions given to an AI assistant.",
    "Here is an instruction:",
    "[begin]",
    instruction,
    "[end]",
    'Give coarse-grained tags for the main intentions of this instruction (for example "Sentiment Analysis" or "Unit Conversion"), each with a short explanation.',
    'Answer only with JSON in exactly this format: [{"tag": "...", "explanation": "..."}]',
    "Answer:",
  ].join("\n");
}

/** The text of the first balanced JSON array in `text` (brackets inside strings are ignored), or undefined. */
export function firstJsonArray(text: string): string | undefined {
  for (let start = text.indexOf("["); start !== -1; start = text.indexOf("[", start + 1)) {
    let depth = 0;
    let inString = false;
    let escaped = false;
    for (let k = start; k < text.length; k++) {
      const character = text[k];
      if (inString) {
        if (escaped) escaped = false;
        else if (character === "\\") escaped = true;
        else if (character === '"') inString = false;
        continue;
      }
      if (character === '"') inString = true;
      else if (character === "[") depth++;
      else if (character === "]") {
        depth--;
        if (depth === 0) {
          const candidate = text.slice(start, k + 1);
          try {
            JSON.parse(candidate);
            return candidate;
          } catch {
            break; // not JSON: look for a later "["
          }
        }
      }
    }
  }
  return undefined;
}

/**
 * Tags from a model reply: the first JSON array of {tag} objects or strings; failing that, every
 * `"tag": "..."` pair in the text (a truncated array still yields its complete entries).
 * Returns undefined when nothing usable is found.
 */
export function parseTagReply(reply: string): string[] | undefined {
  const arrayText = firstJsonArray(reply);
  let raw: string[] = [];
  if (arrayText !== undefined) {
    const parsed = JSON.parse(arrayText) as unknown[];
    for (const entry of parsed) {
      if (typeof entry === "string") raw.push(entry);
      else if (entry && typeof entry === "object" && typeof (entry as { tag?: unknown }).tag === "string") {
        raw.push((entry as { tag: string }).tag);
      }
    }
  }
  if (raw.length === 0) {
    raw = [...reply.matchAll(/"tag"\s*:\s*"((?:[^"\\]|\\.)*)"/g)].map((match) => match[1]);
  }
  const tags = [...new Set(raw.map((tag) => normaliseTag(tag)).filter((tag) => tag !== ""))];
  return tags.length > 0 ? tags : undefined;
}

export type LlmTaggerOptions = {
  /** Attempts per instruction before giving up (default 3). */
  attempts?: number;
  /** Generation options; the seed is varied per attempt. Default: 160 new tokens, temperature 0 then 0.7. */
  generate?: GenerateOptions;
  /** Instructions sent per generateBatch call (default 16). */
  batchSize?: number;
};

export function createLlmTagger(backend: GenerationBackend, options: LlmTaggerOptions = {}): Tagger {
  const attempts = options.attempts ?? 3;
  if (!Number.isInteger(attempts) || attempts < 1) {
    throw new RangeError(`createLlmTagger: attempts must be an integer ≥ 1, got ${attempts}`);
  }
  const batchSize = options.batchSize ?? 16;
  return {
    name: `llm:${backend.name}`,
    async tag(instructions) {
      const result: (string[] | undefined)[] = instructions.map(() => undefined);
      const lastReply: string[] = instructions.map(() => "");
      for (let attempt = 0; attempt < attempts; attempt++) {
        const pending = result.flatMap((tags, index) => (tags === undefined ? [index] : []));
        if (pending.length === 0) break;
        const generateOptions: GenerateOptions = {
          maxNewTokens: 160,
          // Greedy first; later attempts sample so that a retry can differ from the failed reply.
          temperature: attempt === 0 ? 0 : 0.7,
          ...options.generate,
          seed: (options.generate?.seed ?? 0) + attempt,
        };
        for (let start = 0; start < pending.length; start += batchSize) {
          const indices = pending.slice(start, start + batchSize);
          let replies: { text: string }[];
          try {
            replies = await backend.generateBatch(
              indices.map((index) => intentionTaggingPrompt(instructions[index])),
              generateOptions,
            );
          } catch (error) {
            if (attempt === attempts - 1) {
              throw new ReplayError(
                "E_TAGGER_BACKEND",
                `llm tagger: backend ${backend.name} failed on attempt ${attempt + 1}: ${(error as Error).message}`,
                {},
                { cause: error },
              );
            }
            continue;
          }
          indices.forEach((index, k) => {
            const text = replies[k]?.text ?? "";
            lastReply[index] = text;
            result[index] = parseTagReply(text);
          });
        }
      }
      const failed = result.indexOf(undefined);
      if (failed !== -1) {
        const reply = lastReply[failed].slice(0, 200);
        throw new ReplayError(
          "E_TAGGER_REPLY",
          `llm tagger: no JSON tag list for instruction ${failed} ("${instructions[failed].slice(0, 80)}") after ${attempts} attempts; last reply: ${JSON.stringify(reply)}`,
        );
      }
      return result as string[][];
    },
  };
}
