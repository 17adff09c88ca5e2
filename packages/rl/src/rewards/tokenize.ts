// Tokenisers for the text rewards.

import { rougeTokens } from "@pillow/core";
import { words } from "@pillow/matcher";
import { RlError } from "../errors.js";

export type Tokenizer = "default" | "unicode" | ((text: string) => string[]);

// Google rouge-score's default tokeniser (lower-case; runs outside [a-z0-9] separate; no stemming).
export { rougeTokens };

/** Unicode-aware alternative: letters and digits of every script, CJK characters one token each. */
export const unicodeTokens = words;

export function tokenizeWith(tokenizer: Tokenizer | undefined, text: string): string[] {
  if (typeof text !== "string") throw new TypeError(`reward: expected a string, got ${typeof text}`);
  if (tokenizer === undefined || tokenizer === "default") return rougeTokens(text);
  if (tokenizer === "unicode") return unicodeTokens(text);
  if (typeof tokenizer === "function") return tokenizer(text);
  throw new RlError(
    "E_UNKNOWN_NAME",
    `reward: unknown tokenizer ${JSON.stringify(tokenizer)} (expected "default", "unicode" or a function)`,
    {
      field: "tokenizer",
    },
  );
}

// Python's str.split()/str.isspace() whitespace, which sacrebleu relies on (differs from JS \s:
// it includes the \x1c–\x1f separators and excludes U+FEFF).
const pythonWhitespace =
  "[\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
export const pythonWhitespaceRun = new RegExp(`${pythonWhitespace}+`, "g");
const trailingPythonWhitespace = new RegExp(`${pythonWhitespace}+$`);

/** Python's `text.split()`. */
export function pythonSplit(text: string): string[] {
  return text.split(pythonWhitespaceRun).filter((part) => part !== "");
}

/**
 * sacrebleu's default "13a" tokeniser (mteval-v13a): separates most punctuation and symbols, and
 * periods/commas except inside numbers, and dashes after digits.
 */
export function tokenize13a(text: string): string[] {
  let line = text.replace(trailingPythonWhitespace, "");
  line = line.replaceAll("<skipped>", "").replaceAll("-\n", "").replaceAll("\n", " ");
  if (line.includes("&")) {
    line = line.replaceAll("&quot;", '"').replaceAll("&amp;", "&").replaceAll("&lt;", "<").replaceAll("&gt;", ">");
  }
  line = ` ${line} `;
  line = line.replace(/([{-~[-`\u0020-&(-+:-@/])/g, " $1 ");
  line = line.replace(/([^0-9])([.,])/g, "$1 $2 ");
  line = line.replace(/([.,])([^0-9])/g, " $1 $2");
  line = line.replace(/([0-9])(-)/g, "$1 $2 ");
  return pythonSplit(line);
}
