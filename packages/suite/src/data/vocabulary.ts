// Common short English words drawn from WordNet, used as the vocabulary of the rule-based tasks.
// "Common" = at least two senses tagged in WordNet's semantic concordance (SemCor), which keeps
// everyday words ("table", "green") and drops rare ones ("aalii").
import { createRequire } from "node:module";
import { loadWordNet } from "./wordnet.js";

const require = createRequire(import.meta.url);
export const pluralize = require("pluralize") as {
  (word: string): string;
  isSingular(word: string): boolean;
};

export type Vocabulary = { nouns: string[]; adjectives: string[] };

let cached: Vocabulary | undefined;

export function loadVocabulary(): Vocabulary {
  if (cached) return cached;
  const wordnet = loadWordNet();
  const shortCommon = (lemma: string, taggedSenses: number) => /^[a-z]{3,8}$/.test(lemma) && taggedSenses >= 2;
  const nouns: string[] = [];
  for (const entry of wordnet.index.noun.values()) {
    if (!shortCommon(entry.lemma, entry.taggedSenses) || !pluralize.isSingular(entry.lemma)) continue;
    // Index lemmas are lower-cased; the synset keeps the real spelling, which drops proper nouns
    // such as "Russia" whose most frequent sense is a name.
    const firstSense = wordnet.synset("noun", entry.offsets[0]);
    if (firstSense.words.includes(entry.lemma)) nouns.push(entry.lemma);
  }
  const adjectives: string[] = [];
  for (const entry of wordnet.index.adjective.values()) {
    if (shortCommon(entry.lemma, entry.taggedSenses)) adjectives.push(entry.lemma);
  }
  cached = { nouns, adjectives };
  return cached;
}
