// Program execution (InsCL's list-manipulation programs): reverse the order of a phrase's words.
import { drawPhrase } from "./inputs.js";
import { phrasings, type TaskDefinition, vague } from "./task.js";

export function createReverseWordsTask(): TaskDefinition {
  return {
    name: "reverse_words",
    category: "program_execution",
    family: "phrase",
    phrasings: phrasings(
      ["Reverse the order of the words.", "Write the words backwards, last word first.", "Reverse the word order."],
      [vague.phrase, vague.rewrite],
      ["Read it from the end to the start.", "Flip the sequence around."],
    ),
    draw(random) {
      const words = drawPhrase(random);
      return words && { input: words.join(" "), output: [...words].reverse().join(" ") };
    },
  };
}
