// Generation: form the acronym (upper-case initials) of a phrase.
import { drawPhrase } from "./inputs.js";
import { phrasings, type TaskDefinition, vague } from "./task.js";

export function createAcronymTask(): TaskDefinition {
  return {
    name: "acronym",
    category: "generation",
    family: "phrase",
    phrasings: phrasings(
      [
        "Generate the acronym from the first letters of these words.",
        "Make an acronym.",
        "Form an upper-case abbreviation from the initials.",
      ],
      [vague.phrase, vague.rewrite],
      ["Abbreviate it.", "Make an initialism."],
    ),
    draw(random) {
      const words = drawPhrase(random);
      return words && { input: words.join(" "), output: words.map((word) => word[0].toUpperCase()).join("") };
    },
  };
}
