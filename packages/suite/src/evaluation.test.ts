import { describe, expect, it } from "vitest";
import { buildEvaluationPrompts, evaluationTable, scoreEvaluation, tinyPromptBudget } from "./evaluation.js";
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
      const demoInputs = prompt.fewShot.split("### Input:\n").slice(1, -1).map((part) => part.split("\n")[0]);
      expect(demoInputs.length).toBeGreaterThanOrEqual(1);
      for (const input of demoInputs) expect(task.train.map((x) => x.input)).toContain(input);
      expect(demoInputs).not.toContain(prompt.input);
    }
    expect(buildEvaluationPrompts(suite)).toEqual(prompts);
  });

  it("scores perfect and empty answers and tabulates the gain", () => {
    const perfect = prompts.map((p) => ({ zeroShot: "", fewShot: `${p.reference}\n### junk` }));
    const scores = scoreEvaluation(prompts, perfect);
    expect(scores).toHaveLength(16);
    for (const score of scores) {
      expect(score.fewShot).toBe(1);
      expect(score.zeroShot).toBe(0);
    }
    const table = evaluationTable(scores);
    expect(table).toContain("| **mean** | | 0.0 | 100.0 | 100.0 |");
    expect(table).toContain("Few-shot beats zero-shot on 16 of 16 tasks.");
    expect(() => scoreEvaluation(prompts, [])).toThrow(/0 answers for 32 prompts/);
  });
});
