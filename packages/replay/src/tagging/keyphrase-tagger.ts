// A local, deterministic intention tagger: lemmatised verb–object and noun phrases from wink-nlp's
// part-of-speech tags. It stands in for InsCL's GPT-4 tagger when no capable model is at hand.
import { analyse, type AnalysedToken } from "./language-model.js";
import type { Tagger } from "./tagger.js";

const nounTags = new Set(["NOUN", "PROPN"]);
// Words between a verb and its object that do not end the object search.
const modifierTags = new Set(["DET", "ADJ", "NUM", "ADV", "PRON", "PART"]);
// Verbs that carry no intent of their own ("be", "do", "have") are not phrase heads.
// Adjectives that point at the input rather than describe an intent ("the following text").
const fillerAdjectives = new Set(["following", "given", "above", "below", "next", "provided", "same", "previous"]);
const lightVerbs = new Set(["be", "do", "have", "can", "will", "would", "should", "may", "must", "let", "make"]);

/** Maximal runs of adjectives followed by nouns ("plural form", "movie review"), as lemmas. */
function nounPhrases(tokens: AnalysedToken[]): string[] {
  const phrases: string[] = [];
  let current: string[] = [];
  let hasNoun = false;
  const flush = () => {
    if (hasNoun) phrases.push(current.join(" "));
    current = [];
    hasNoun = false;
  };
  for (const token of tokens) {
    const isContent = !token.isStopWord && !fillerAdjectives.has(token.lemma);
    if (nounTags.has(token.partOfSpeech) && isContent) {
      current.push(token.lemma);
      hasNoun = true;
    } else if (token.partOfSpeech === "ADJ" && isContent) {
      if (hasNoun) flush();
      current.push(token.lemma);
    } else {
      flush();
    }
  }
  flush();
  return phrases;
}

function verbObjectPhrases(tokens: AnalysedToken[]): string[] {
  const phrases: string[] = [];
  tokens.forEach((token, index) => {
    if (token.partOfSpeech !== "VERB" || lightVerbs.has(token.lemma)) return;
    for (let k = index + 1; k < tokens.length; k++) {
      const next = tokens[k];
      if (nounTags.has(next.partOfSpeech)) {
        // The object's head is the last noun of a compound ("movie review" → review).
        let head = k;
        while (head + 1 < tokens.length && nounTags.has(tokens[head + 1].partOfSpeech)) head++;
        phrases.push(`${token.lemma} ${tokens[head].lemma}`);
        return;
      }
      if (!modifierTags.has(next.partOfSpeech)) break;
    }
    phrases.push(token.lemma);
  });
  return phrases;
}

/** Tags of one instruction, normalised (lower-case letters, lemmas), distinct, in order of appearance. */
export function keyphraseTags(instruction: string): string[] {
  const tokens = analyse(instruction.toLowerCase());
  const phrases = [...verbObjectPhrases(tokens), ...nounPhrases(tokens)]
    .map((phrase) => phrase.replace(/[^a-z]+/g, " ").trim())
    .filter((phrase) => phrase !== "");
  if (phrases.length === 0 && tokens.some((token) => token.partOfSpeech === "PRON" && /^wh/.test(token.lemma))) {
    phrases.push("answer question");
  }
  return [...new Set(phrases)];
}

export function createKeyphraseTagger(): Tagger {
  return {
    name: "keyphrase",
    async tag(instructions) {
      return instructions.map((instruction) => keyphraseTags(instruction));
    },
  };
}
