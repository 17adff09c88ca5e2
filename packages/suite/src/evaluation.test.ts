import { describe, expect, it } from "vitest";
import { buildEvaluationPrompts, evaluationTable, scoreEvaluation, tinyPromptBudget } from "./evaluation.js";
import { formatPrompt } from "@pillow/core";
import { createRandom } from "./random.js";
import { buildSuite } from "./suite.js";

describe("evaluation prompts and scores", () => {
  const suite = buildSuite({ seed: 0, trainPerTask: 10, testPerTask: 2 });
  const prompts = buildEvaluationPrompts(suite);

  it("asks every test instance zero-shot and with same-task demonstrations within the budget", () => {
    expect(prompts).toHaveLength(32);
    for (const prompt of prompts) {
      const task = suite.tasks.find((t) => t.name === prompt.task)!;
      expect(prompt.fewShot.endsWith(prompt.zeroShot)).toBe(true);
      expect(Buffer.byteLength(prompt.fewShot)).toBeLessThanOrEqual(tinyPromptBudget);
      const demoInputs = prompt.fewShot
        .split("### Input:\n")
        .slice(1, -1)
        .map((part) => part.split("\n")[0]);
      expect(demoInputs.length).toBeGreaterThanOrEqual(1);
      for (const input of demoInputs) expect(task.train.map((x) => x.input)).toContain(input);
      expect(demoInputs).not.toContain(prompt.input);
    }
    expect(buildEvaluationPrompts(suite)).toEqual(prompts);
  });

  it("asks the same instance after other tasks' demonstrations, leaving the same-task prompts as they were", () => {
    for (const prompt of prompts) {
      expect(prompt.distracted.endsWith(prompt.zeroShot)).toBe(true);
      expect(Buffer.byteLength(prompt.distracted)).toBeLessThanOrEqual(tinyPromptBudget);
      const blocks = prompt.distracted.split("### Instruction:\n").slice(1, -1);
      expect(blocks.length).toBeGreaterThanOrEqual(1);
      for (const block of blocks) {
        const [instruction, , input] = block.split("\n");
        const owners = suite.tasks.filter((task) =>
          task.train.some((x) => x.instruction === instruction && x.input === input),
        );
        expect(owners.length).toBeGreaterThanOrEqual(1);
        expect(owners.map((task) => task.name)).not.toContain(prompt.task);
      }
    }
    // The same-task prompts are those drawn from the evaluation stream alone, as before distractors.
    const random = createRandom("evaluation:0");
    const expected = suite.tasks.flatMap((task) =>
      task.test.map((instance) =>
        formatPrompt({ ...instance, demos: random.sample(task.train, 3), maxBytes: tinyPromptBudget }),
      ),
    );
    expect(prompts.map((prompt) => prompt.fewShot)).toEqual(expected);
  });

  it("scores perfect and empty answers and tabulates the gain", () => {
    const perfect = prompts.map((p) => ({
      zeroShot: "",
      fewShot: `${p.reference}\n### junk`,
      distracted: p.reference.split(" ")[0],
    }));
    const scores = scoreEvaluation(prompts, perfect);
    expect(scores).toHaveLength(16);
    for (const score of scores) {
      expect(score.fewShot).toBe(1);
      expect(score.zeroShot).toBe(0);
      expect(score.distracted).toBeGreaterThan(0);
    }
    const table = evaluationTable(scores);
    expect(table).toContain("| **mean** | | 0.0 | 100.0 | 100.0 |");
    expect(table).toContain("| 3 other-task demos |");
    expect(table).toContain("Few-shot beats zero-shot on 16 of 16 tasks.");
    expect(() => scoreEvaluation(prompts, [])).toThrow(/0 answers for 32 prompts/);
    const old = prompts.map(() => ({ zeroShot: "", fewShot: "" }));
    expect(() => scoreEvaluation(prompts, old as never)).toThrow(/answer 0 has no "distracted" text/);
  });
});
