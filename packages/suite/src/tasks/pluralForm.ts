// Rewriting: the plural of a common singular noun, as the `pluralize` library forms it.
import { loadVocabulary, pluralize } from "../data/vocabulary.js";
import { phrasings, type TaskDefinition, vague } from "./task.js";

export function createPluralFormTask(): TaskDefinition {
  const nouns = loadVocabulary().nouns.filter((noun) => {
    const plural = pluralize(noun);
    return plural !== noun && /^[a-z]+$/.test(plural);
  });
  return {
    name: "plural_form",
    category: "rewriting",
    phrasings: phrasings(
      ["Give the plural form of this noun.", "Pluralize the word.", "Write the noun in the plural."],
      [vague.transformWord, vague.rewrite],
    ),
    draw(random) {
      const noun = random.pick(nouns);
      return { input: noun, output: pluralize(noun) };
    },
  };
}
