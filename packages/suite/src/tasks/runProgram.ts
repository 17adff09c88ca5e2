// Program execution: run a tiny straight-line program over x and y and report what it prints.
import type { Random } from "../random.js";
import { phrasings, type TaskDefinition, vague } from "./task.js";

type Step = { target: string; operator: "+" | "-" | "*"; operand: number | string };

function randomStep(random: Random, variables: string[]): Step {
  const target = random.pick(variables);
  const kind = random.int(4);
  if (kind === 0) return { target, operator: "+", operand: random.between(1, 9) };
  if (kind === 1) return { target, operator: "-", operand: random.between(1, 9) };
  if (kind === 2) return { target, operator: "*", operand: random.between(2, 3) };
  return { target, operator: "+", operand: random.pick(variables) };
}

function applyStep(state: Record<string, number>, step: Step): void {
  const value = typeof step.operand === "number" ? step.operand : state[step.operand];
  if (step.operator === "+") state[step.target] += value;
  else if (step.operator === "-") state[step.target] -= value;
  else state[step.target] *= value;
}

export function createRunProgramTask(): TaskDefinition {
  return {
    name: "run_program",
    category: "program_execution",
    phrasings: phrasings(
      ["Run this program and give what it prints.", "What does this code print?", "Execute the code."],
      [vague.giveResult, vague.processInput],
    ),
    draw(random) {
      const variables = random.next() < 0.5 ? ["x"] : ["x", "y"];
      const state: Record<string, number> = {};
      const parts: string[] = [];
      for (const variable of variables) {
        state[variable] = random.between(0, 9);
        parts.push(`${variable}=${state[variable]}`);
      }
      const stepCount = random.between(1, 3);
      for (let i = 0; i < stepCount; i++) {
        const step = randomStep(random, variables);
        applyStep(state, step);
        parts.push(`${step.target}${step.operator}=${step.operand}`);
      }
      const printed = random.pick(variables);
      parts.push(`print ${printed}`);
      if (Math.abs(state[printed]) > 99) return undefined;
      return { input: parts.join("; "), output: String(state[printed]) };
    },
  };
}
