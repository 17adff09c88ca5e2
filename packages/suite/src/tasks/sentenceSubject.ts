// Comprehension: who performs the action in the sentence.
import { drawSentence } from "./inputs.js";
import { phrasings, type TaskDefinition, vague } from "./task.js";

export function createSentenceSubjectTask(): TaskDefinition {
  return {
    name: "sentence_subject",
    category: "comprehension",
    family: "sentence",
    phrasings: phrasings(
      ["Who is doing the action in the sentence?", "Name the subject of the sentence.", "Give the subject noun."],
      [vague.sentence, vague.answer],
      ["Which thing acts here?", "Who did it?"],
    ),
    draw(random) {
      const sentence = drawSentence(random);
      return sentence && { input: sentence.text, output: sentence.subject };
    },
  };
}
