// Summarization: shrink a sentence to its core "subject verb object" headline.
import { loadVocabulary } from "../data/vocabulary.js";
import { phrasings, type TaskDefinition, vague } from "./task.js";

const openings = ["Yesterday", "Today", "On Monday", "Last week", "At noon", "Again"];
const verbs = ["sold", "found", "painted", "carried", "washed", "bought", "lost", "fixed", "moved", "saw"];

export function createHeadlineTask(): TaskDefinition {
  const { nouns, adjectives } = loadVocabulary();
  return {
    name: "headline",
    category: "summarization",
    phrasings: phrasings(
      [
        "Summarize the sentence as subject, verb and object.",
        "Write a three-word headline for this sentence.",
        "Shorten the sentence to who did what.",
      ],
      [vague.shorten, vague.rewrite],
    ),
    draw(random) {
      const subject = random.pick(nouns);
      const object = random.pick(nouns);
      const verb = random.pick(verbs);
      if (subject === object) return undefined;
      const input = `${random.pick(openings)} the ${random.pick(adjectives)} ${subject} ${verb} a ${random.pick(adjectives)} ${object}.`;
      return { input, output: `${subject} ${verb} ${object}` };
    },
  };
}
