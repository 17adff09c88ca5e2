// Text quality evaluation: a short sentence is "good" when it starts with a capital letter, ends
// with a period, repeats no word back to back and every word is in the English word list.
import { loadEnglishWords } from "../data/lexicon.js";
import { loadVocabulary } from "../data/vocabulary.js";
import type { Random } from "../random.js";
import { phrasings, type TaskDefinition, vague } from "./task.js";

const flaws = ["lowercase start", "missing period", "repeated word", "misspelling"] as const;

function misspell(word: string, random: Random, lexicon: Set<string>): string | undefined {
  // Swap two neighbouring letters; keep only results that are not English words themselves.
  const at = random.int(word.length - 1);
  const swapped = word.slice(0, at) + word[at + 1] + word[at] + word.slice(at + 2);
  return swapped !== word && !lexicon.has(swapped) ? swapped : undefined;
}

export function createSentenceQualityTask(): TaskDefinition {
  const { nouns, adjectives } = loadVocabulary();
  const lexicon = loadEnglishWords();
  const lexiconNouns = nouns.filter((word) => lexicon.has(word));
  const lexiconAdjectives = adjectives.filter((word) => lexicon.has(word));
  return {
    name: "sentence_quality",
    category: "text_quality_evaluation",
    phrasings: phrasings(
      [
        "Is this sentence well written? Answer good or bad.",
        "Rate the sentence as good or bad: check the capital letter, the final period, repeated words and spelling.",
        "Judge the writing quality: good or bad.",
      ],
      [vague.evaluateText, vague.labelInput],
    ),
    draw(random) {
      const words = ["the", random.pick(lexiconAdjectives), random.pick(lexiconNouns), "is", random.pick(lexiconAdjectives)];
      if (words[1] === words[4]) return undefined;
      let start = "The";
      let end = ".";
      let output = "good";
      if (random.next() < 0.5) {
        output = "bad";
        const flaw = random.pick(flaws);
        if (flaw === "lowercase start") start = "the";
        else if (flaw === "missing period") end = "";
        else if (flaw === "repeated word") words.splice(2, 0, words[2]);
        else {
          const position = random.pick([1, 2, 4]);
          const wrong = misspell(words[position], random, lexicon);
          if (!wrong) return undefined;
          words[position] = wrong;
        }
      }
      return { input: [start, ...words.slice(1)].join(" ") + end, output };
    },
  };
}
