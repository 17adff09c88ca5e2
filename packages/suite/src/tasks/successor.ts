// Mathematics: the next integer (carries included: 199 -> 200).
import { drawNumber } from "./inputs.js";
import { phrasings, type TaskDefinition, vague } from "./task.js";

export function createSuccessorTask(): TaskDefinition {
  return {
    name: "successor",
    category: "mathematics",
    family: "number",
    phrasings: phrasings(
      ["Add one to this number.", "What number comes next?", "Increment the number."],
      [vague.number, vague.giveResult],
      ["Count a single step up from here.", "Which integer follows it?"],
    ),
    draw(random) {
      const value = drawNumber(random);
      return { input: String(value), output: String(value + 1) };
    },
  };
}
