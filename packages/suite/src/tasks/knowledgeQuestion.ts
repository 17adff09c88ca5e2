// Open QA: short general-knowledge questions with no context: capitals and continents of countries
// (countries-list), opposites of adjectives (WordNet direct antonyms) and what a noun is a kind of
// (first hypernym of its most frequent WordNet sense).
import { loadCountries } from "../data/countries.js";
import { loadWordNet } from "../data/wordnet.js";
import type { Example, TaskDefinition } from "./task.js";
import { phrasings, vague } from "./task.js";

/** The direct antonym of an adjective's most frequent sense, or undefined. */
export function adjectiveAntonym(word: string): string | undefined {
  const wordnet = loadWordNet();
  const entry = wordnet.index.adjective.get(word);
  if (!entry) return undefined;
  const synset = wordnet.synset("adjective", entry.offsets[0]);
  const position = synset.words.findIndex((lemma) => lemma.toLowerCase() === word) + 1;
  const pointer = synset.pointers.find((p) => p.symbol === "!" && p.source === position);
  if (!pointer) return undefined;
  return wordnet.synset("adjective", pointer.offset).words[pointer.target - 1];
}

/** The first lemma of the first hypernym of a noun's most frequent sense, or undefined. */
export function nounHypernym(word: string): string | undefined {
  const wordnet = loadWordNet();
  const entry = wordnet.index.noun.get(word);
  if (!entry) return undefined;
  const pointer = wordnet.synset("noun", entry.offsets[0]).pointers.find((p) => p.symbol === "@");
  if (!pointer) return undefined;
  return wordnet.synset("noun", pointer.offset).words[0].replaceAll("_", " ");
}

export function createKnowledgeQuestionTask(): TaskDefinition {
  const countries = loadCountries();
  const wordnet = loadWordNet();
  const antonymQuestions: Example[] = [];
  for (const entry of wordnet.index.adjective.values()) {
    if (!/^[a-z]{3,10}$/.test(entry.lemma) || entry.taggedSenses < 2) continue;
    const antonym = adjectiveAntonym(entry.lemma);
    if (antonym && /^[a-z]{3,14}$/.test(antonym)) {
      antonymQuestions.push({ input: `Opposite of ${entry.lemma}?`, output: antonym });
    }
  }
  const kindQuestions: Example[] = [];
  for (const entry of wordnet.index.noun.values()) {
    if (!/^[a-z]{3,10}$/.test(entry.lemma) || entry.taggedSenses < 3) continue;
    const hypernym = nounHypernym(entry.lemma);
    if (hypernym && /^[a-z ]{3,20}$/.test(hypernym)) {
      kindQuestions.push({ input: `A ${entry.lemma} is a kind of?`, output: hypernym });
    }
  }
  return {
    name: "knowledge_question",
    category: "open_qa",
    phrasings: phrasings(
      [
        "Answer the general knowledge question.",
        "Answer this trivia question in a few words.",
        "Reply with a short factual answer.",
      ],
      [vague.answer, vague.respond],
    ),
    draw(random) {
      const kind = random.int(4);
      if (kind === 0) {
        const country = random.pick(countries);
        return { input: `Capital of ${country.name}?`, output: country.capital };
      }
      if (kind === 1) {
        const country = random.pick(countries);
        return { input: `Continent of ${country.name}?`, output: country.continent };
      }
      return random.pick(kind === 2 ? antonymQuestions : kindQuestions);
    },
  };
}
