// Detection: find the one word that occurs twice in a short list.
import { loadVocabulary } from "../data/vocabulary.js";
import { phrasings, type TaskDefinition, vague } from "./task.js";

export function createDuplicateWordTask(): TaskDefinition {
  const { nouns } = loadVocabulary();
  const short = nouns.filter((word) => word.length <= 6);
  return {
    name: "duplicate_word",
    category: "detection",
    phrasings: phrasings(
      ["Which word appears twice in the list?", "Find the repeated word.", "Detect the duplicate word."],
      [vague.findIt, vague.answer],
    ),
    draw(random) {
      const distinct = random.sample(short, random.between(3, 5));
      const repeated = distinct[0];
      const words = random.shuffle([...distinct, repeated]);
      return { input: words.join(" "), output: repeated };
    },
  };
}
