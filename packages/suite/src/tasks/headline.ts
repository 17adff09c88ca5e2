// Summarization: shrink a sentence to its "subject verb object" headline.
import { drawSentence } from "./inputs.js";
import { phrasings, type TaskDefinition, vague } from "./task.js";

export function createHeadlineTask(): TaskDefinition {
  return {
    name: "headline",
    category: "summarization",
    family: "sentence",
    phrasings: phrasings(
      [
        "Summarize the sentence as subject, verb and object.",
        "Write a three-word headline for this sentence.",
        "Shorten the sentence to who did what.",
      ],
      [vague.sentence, vague.answer],
      ["Boil it down to three words.", "Give the gist."],
    ),
    draw(random) {
      const sentence = drawSentence(random);
      return sentence && { input: sentence.text, output: `${sentence.subject} ${sentence.verb} ${sentence.object}` };
    },
  };
}
