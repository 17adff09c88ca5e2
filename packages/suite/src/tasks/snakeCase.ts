// Code: rename a camelCase identifier made of two or three English words to snake_case.
import { loadVocabulary } from "../data/vocabulary.js";
import { phrasings, type TaskDefinition, vague } from "./task.js";

export function createSnakeCaseTask(): TaskDefinition {
  const { nouns, adjectives } = loadVocabulary();
  return {
    name: "snake_case",
    category: "code",
    phrasings: phrasings(
      [
        "Convert this camelCase identifier to snake_case.",
        "Rename the variable from camelCase to snake_case.",
        "Rewrite the identifier in snake_case.",
      ],
      [vague.transformWord, vague.rewrite],
    ),
    draw(random) {
      const words =
        random.next() < 0.5
          ? [random.pick(adjectives), random.pick(nouns)]
          : [random.pick(["get", "set", "is", "has", "make", "find"]), random.pick(adjectives), random.pick(nouns)];
      const camel = words.map((word, i) => (i === 0 ? word : word[0].toUpperCase() + word.slice(1))).join("");
      return { input: camel, output: words.join("_") };
    },
  };
}
