// In-context learning check for a model on the suite: every test instance asked zero-shot and with
// k demonstrations of the same task (drawn from the train split), scored by ROUGE-L.
import { formatPrompt } from "./prompt.js";
import { createRandom } from "./random.js";
import { rougeL } from "@pillow/core";
import type { Suite } from "./suite.js";

export type EvaluationPrompt = {
  task: string;
  category: string;
  input: string;
  reference: string;
  zeroShot: string;
  fewShot: string;
};

/** Byte budget of a few-shot prompt for the tiny model: 512 positions minus BOS and a 32-token answer. */
export const tinyPromptBudget = 479;

export function buildEvaluationPrompts(
  suite: Suite,
  options: { seed?: number; shots?: number; maxBytes?: number } = {},
): EvaluationPrompt[] {
  const shots = options.shots ?? 3;
  const maxBytes = options.maxBytes ?? tinyPromptBudget;
  const random = createRandom(`evaluation:${options.seed ?? 0}`);
  const prompts: EvaluationPrompt[] = [];
  for (const task of suite.tasks) {
    if (task.train.length < shots) {
      throw new Error(`buildEvaluationPrompts: task "${task.name}" has ${task.train.length} train instances, fewer than ${shots} shots`);
    }
    for (const instance of task.test) {
      const demos = random.sample(task.train, shots);
      prompts.push({
        task: task.name,
        category: task.category,
        input: instance.input,
        reference: instance.output,
        zeroShot: formatPrompt({ instruction: instance.instruction, input: instance.input }),
        fewShot: formatPrompt({ instruction: instance.instruction, input: instance.input, demos, maxBytes }),
      });
    }
  }
  return prompts;
}

export type TaskScore = { task: string; category: string; count: number; zeroShot: number; fewShot: number };

/** Mean ROUGE-L per task of zero-shot and few-shot answers (answers cut at the first newline). */
export function scoreEvaluation(
  prompts: EvaluationPrompt[],
  answers: { zeroShot: string; fewShot: string }[],
): TaskScore[] {
  if (answers.length !== prompts.length) {
    throw new Error(`scoreEvaluation: ${answers.length} answers for ${prompts.length} prompts`);
  }
  const byTask = new Map<string, TaskScore>();
  prompts.forEach((prompt, i) => {
    const score = byTask.get(prompt.task) ?? { task: prompt.task, category: prompt.category, count: 0, zeroShot: 0, fewShot: 0 };
    score.count += 1;
    score.zeroShot += rougeL(answers[i].zeroShot.split("\n")[0], prompt.reference);
    score.fewShot += rougeL(answers[i].fewShot.split("\n")[0], prompt.reference);
    byTask.set(prompt.task, score);
  });
  return [...byTask.values()].map((score) => ({
    ...score,
    zeroShot: score.zeroShot / score.count,
    fewShot: score.fewShot / score.count,
  }));
}

/** A Markdown table of ROUGE-L ×100 per task, with the mean and the mean few-shot gain. */
export function evaluationTable(scores: TaskScore[]): string {
  const lines = ["| task | category | zero-shot | 3-shot | gain |", "|---|---|---:|---:|---:|"];
  const format = (value: number) => (value * 100).toFixed(1);
  for (const score of scores) {
    lines.push(
      `| ${score.task} | ${score.category} | ${format(score.zeroShot)} | ${format(score.fewShot)} | ${format(score.fewShot - score.zeroShot)} |`,
    );
  }
  const mean = (pick: (score: TaskScore) => number) => scores.reduce((sum, score) => sum + pick(score), 0) / scores.length;
  const better = scores.filter((score) => score.fewShot > score.zeroShot).length;
  lines.push(
    `| **mean** | | ${format(mean((s) => s.zeroShot))} | ${format(mean((s) => s.fewShot))} | ${format(mean((s) => s.fewShot - s.zeroShot))} |`,
  );
  lines.push("", `Few-shot beats zero-shot on ${better} of ${scores.length} tasks.`);
  return lines.join("\n");
}

/** Asks a model every prompt zero-shot and few-shot, `batch` prompts at a time. */
export async function answerEvaluationPrompts(
  prompts: EvaluationPrompt[],
  generateBatch: (prompts: string[]) => Promise<string[]>,
  batch = 16,
): Promise<{ zeroShot: string; fewShot: string }[]> {
  const answers: { zeroShot: string; fewShot: string }[] = [];
  for (let start = 0; start < prompts.length; start += batch) {
    const slice = prompts.slice(start, start + batch);
    const texts = await generateBatch([...slice.map((p) => p.zeroShot), ...slice.map((p) => p.fewShot)]);
    if (texts.length !== 2 * slice.length) {
      throw new Error(`answerEvaluationPrompts: generateBatch returned ${texts.length} texts for ${2 * slice.length} prompts`);
    }
    slice.forEach((_, i) => {
      answers.push({ zeroShot: texts[i], fewShot: texts[slice.length + i] });
    });
  }
  return answers;
}
