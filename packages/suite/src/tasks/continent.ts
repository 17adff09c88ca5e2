// Closed QA: the continent (countries-list) of the country a sentence mentions.
import { drawSentence } from "./inputs.js";
import { phrasings, type TaskDefinition, vague } from "./task.js";

export function createContinentTask(): TaskDefinition {
  return {
    name: "continent",
    category: "closed_qa",
    family: "sentence",
    phrasings: phrasings(
      [
        "On which continent is the country in the sentence?",
        "Name the continent of the country mentioned.",
        "Continent?",
      ],
      [vague.sentence, vague.answer],
      ["Where in the world did it happen?", "Which part of the world is that?"],
    ),
    draw(random) {
      const sentence = drawSentence(random);
      return sentence && { input: sentence.text, output: sentence.continent };
    },
  };
}
