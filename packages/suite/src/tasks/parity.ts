// Classification: whether an integer is even or odd.
import { drawNumber } from "./inputs.js";
import { phrasings, type TaskDefinition, vague } from "./task.js";

export function createParityTask(): TaskDefinition {
  return {
    name: "parity",
    category: "classification",
    family: "number",
    phrasings: phrasings(
      ["Is this number even or odd?", "Say whether the number is even or odd.", "Even or odd?"],
      [vague.number, vague.giveResult],
      ["Check whether it splits evenly in two.", "Which class of integer is this?"],
    ),
    draw(random) {
      const value = drawNumber(random);
      return { input: String(value), output: value % 2 === 0 ? "even" : "odd" };
    },
  };
}
