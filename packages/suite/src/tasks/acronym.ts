// Generation: form the acronym (upper-case initials) of two to four words.
import { loadVocabulary } from "../data/vocabulary.js";
import { phrasings, type TaskDefinition, vague } from "./task.js";

export function createAcronymTask(): TaskDefinition {
  const { nouns, adjectives } = loadVocabulary();
  const words = [...adjectives, ...nouns];
  return {
    name: "acronym",
    category: "generation",
    phrasings: phrasings(
      [
        "Generate the acronym from the first letters of these words.",
        "Make an acronym.",
        "Form an upper-case abbreviation from the initials.",
      ],
      [vague.shorten, vague.processInput],
    ),
    draw(random) {
      const chosen = random.sample(words, random.between(2, 4));
      return { input: chosen.join(" "), output: chosen.map((word) => word[0].toUpperCase()).join("") };
    },
  };
}
