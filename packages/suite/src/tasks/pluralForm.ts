// Rewriting: the plural of a common singular noun, as the `pluralize` library forms it.
import { pluralize } from "../data/vocabulary.js";
import { drawNoun } from "./inputs.js";
import { phrasings, type TaskDefinition, vague } from "./task.js";

export function createPluralFormTask(): TaskDefinition {
  return {
    name: "plural_form",
    category: "rewriting",
    family: "word",
    phrasings: phrasings(
      ["Give the plural form of this noun.", "Pluralize the word.", "Write the noun in the plural."],
      [vague.word, vague.processInput],
      ["Make it more than one.", "There are several of these; name them."],
    ),
    draw(random) {
      const noun = drawNoun(random);
      return { input: noun, output: pluralize(noun) };
    },
  };
}
