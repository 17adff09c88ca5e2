// Extraction: pull the country's name out of a sentence.
import { drawSentence } from "./inputs.js";
import { phrasings, type TaskDefinition, vague } from "./task.js";

export function createExtractCountryTask(): TaskDefinition {
  return {
    name: "extract_country",
    category: "extraction",
    family: "sentence",
    phrasings: phrasings(
      [
        "Extract the country mentioned in the sentence.",
        "Which country is named in this text?",
        "Pull out the country name.",
      ],
      [vague.sentence, vague.answer],
      ["Name the place.", "What location is given?"],
    ),
    draw(random) {
      const sentence = drawSentence(random);
      return sentence && { input: sentence.text, output: sentence.country };
    },
  };
}
