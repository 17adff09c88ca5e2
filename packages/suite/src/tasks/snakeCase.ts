// Code: turn a phrase into a snake_case identifier.
import { drawPhrase } from "./inputs.js";
import { phrasings, type TaskDefinition, vague } from "./task.js";

export function createSnakeCaseTask(): TaskDefinition {
  return {
    name: "snake_case",
    category: "code",
    family: "phrase",
    phrasings: phrasings(
      [
        "Convert these words to a snake_case identifier.",
        "Write the words as a snake_case variable name.",
        "Join the words with underscores.",
      ],
      [vague.phrase, vague.rewrite],
      ["Make a Python variable name of it.", "Turn it into an identifier."],
    ),
    draw(random) {
      const words = drawPhrase(random);
      return words && { input: words.join(" "), output: words.join("_") };
    },
  };
}
