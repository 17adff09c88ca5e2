// Text quality evaluation (stands in for InsCL's text-editing tasks): capitalise a phrase as a title.
import { drawPhrase } from "./inputs.js";
import { phrasings, type TaskDefinition, vague } from "./task.js";

export function createTitleCaseTask(): TaskDefinition {
  return {
    name: "title_case",
    category: "text_quality_evaluation",
    family: "phrase",
    phrasings: phrasings(
      ["Capitalize the first letter of every word.", "Write the words in title case.", "Title-case this."],
      [vague.phrase, vague.rewrite],
      ["Format it like a book title.", "Make it look like a heading."],
    ),
    draw(random) {
      const words = drawPhrase(random);
      return (
        words && {
          input: words.join(" "),
          output: words.map((word) => word[0].toUpperCase() + word.slice(1)).join(" "),
        }
      );
    },
  };
}
