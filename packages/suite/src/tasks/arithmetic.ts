// Mathematics: one addition, subtraction or small multiplication.
import { phrasings, type TaskDefinition, vague } from "./task.js";

export function createArithmeticTask(): TaskDefinition {
  return {
    name: "arithmetic",
    category: "mathematics",
    phrasings: phrasings(
      ["Compute the value of this arithmetic expression.", "Solve the math problem.", "Calculate."],
      [vague.giveResult, vague.answer],
    ),
    draw(random) {
      const kind = random.int(3);
      if (kind === 0) {
        const a = random.between(0, 99);
        const b = random.between(0, 99);
        return { input: `${a} + ${b}`, output: String(a + b) };
      }
      if (kind === 1) {
        const a = random.between(0, 99);
        const b = random.between(0, a);
        return { input: `${a} - ${b}`, output: String(a - b) };
      }
      const a = random.between(2, 12);
      const b = random.between(2, 12);
      return { input: `${a} * ${b}`, output: String(a * b) };
    },
  };
}
