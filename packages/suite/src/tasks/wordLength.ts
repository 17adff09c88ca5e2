// Open QA (a question about the input with an open numeric answer): how many letters a word has.
import { drawNoun } from "./inputs.js";
import { phrasings, type TaskDefinition, vague } from "./task.js";

export function createWordLengthTask(): TaskDefinition {
  return {
    name: "word_length",
    category: "open_qa",
    family: "word",
    phrasings: phrasings(
      ["How many letters are in this word?", "Count the letters.", "Give the number of letters."],
      [vague.word, vague.processInput],
      ["How long is it?", "Measure it in characters."],
    ),
    draw(random) {
      const noun = drawNoun(random);
      return { input: noun, output: String(noun.length) };
    },
  };
}
