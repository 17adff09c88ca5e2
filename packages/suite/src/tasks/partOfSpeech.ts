// Classification: the part of speech of a word that WordNet lists under exactly one part of speech.
import { loadWordNet } from "../data/wordnet.js";
import { phrasings, type TaskDefinition, vague } from "./task.js";

export function createPartOfSpeechTask(): TaskDefinition {
  const wordnet = loadWordNet();
  const onlyIn = (pos: "noun" | "verb" | "adjective") => {
    const others = (["noun", "verb", "adjective", "adverb"] as const).filter((other) => other !== pos);
    const words: string[] = [];
    for (const entry of wordnet.index[pos].values()) {
      if (!/^[a-z]{3,12}$/.test(entry.lemma) || entry.taggedSenses < 1) continue;
      if (others.some((other) => wordnet.index[other].has(entry.lemma))) continue;
      words.push(entry.lemma);
    }
    return words;
  };
  const byLabel = [
    { label: "noun", words: onlyIn("noun") },
    { label: "verb", words: onlyIn("verb") },
    { label: "adjective", words: onlyIn("adjective") },
  ];
  return {
    name: "part_of_speech",
    category: "classification",
    phrasings: phrasings(
      [
        "What part of speech is this word? Answer noun, verb or adjective.",
        "Classify the word as a noun, a verb or an adjective.",
        "Part of speech?",
      ],
      [vague.classifyWord, vague.labelInput],
    ),
    draw(random) {
      // Balanced labels: choose the class first, then a word of that class.
      const { label, words } = random.pick(byLabel);
      return { input: random.pick(words), output: label };
    },
  };
}
