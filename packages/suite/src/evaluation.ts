// In-context learning check for a model on the suite: every test instance asked zero-shot, with k
// demonstrations of the same task (drawn from the train split), and with k demonstrations of other
// tasks (what a random pick from a mixed prompt pool gives), scored by ROUGE-L.
import { formatPrompt, rougeL } from "@pillow/core";
import { SuiteError } from "./errors.js";
import { createRandom } from "./random.js";
import type { Suite } from "./suite.js";

export type EvaluationPrompt = {
  task: string;
  category: string;
  input: string;
  reference: string;
  zeroShot: string;
  fewShot: string;
  /** The query after k demonstrations of other tasks: does the model still do what it is asked? */
  distracted: string;
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
  // A stream of its own, so that the same-task prompts are those of the evaluations before it.
  const distractorRandom = createRandom(`evaluation-distractors:${options.seed ?? 0}`);
  const prompts: EvaluationPrompt[] = [];
  for (const task of suite.tasks) {
    if (task.train.length < shots) {
      throw new SuiteError(
        "E_TOO_FEW_INSTANCES",
        `buildEvaluationPrompts: task "${task.name}" has ${task.train.length} train instances, fewer than ${shots} shots`,
        {
          task: task.name,
        },
      );
    }
    const otherTrain = suite.tasks.filter((other) => other.name !== task.name).flatMap((other) => other.train);
    if (otherTrain.length < shots) {
      throw new SuiteError(
        "E_TOO_FEW_INSTANCES",
        `buildEvaluationPrompts: the other tasks than "${task.name}" have ${otherTrain.length} train instances, fewer than ${shots} shots`,
        { task: task.name },
      );
    }
    for (const instance of task.test) {
      const demos = random.sample(task.train, shots);
      const distractors = distractorRandom.sample(otherTrain, shots);
      prompts.push({
        task: task.name,
        category: task.category,
        input: instance.input,
        reference: instance.output,
        zeroShot: formatPrompt({ instruction: instance.instruction, input: instance.input }),
        fewShot: formatPrompt({ instruction: instance.instruction, input: instance.input, demos, maxBytes }),
        distracted: formatPrompt({
          instruction: instance.instruction,
          input: instance.input,
          demos: distractors,
          maxBytes,
        }),
      });
    }
  }
  return prompts;
}

export type TaskScore = {
  task: string;
  category: string;
  count: number;
  zeroShot: number;
  fewShot: number;
  distracted: number;
};
export type EvaluationAnswer = { zeroShot: string; fewShot: string; distracted: string };

/** Mean ROUGE-L per task of the zero-shot, few-shot and distracted answers (cut at the first newline). */
export function scoreEvaluation(prompts: EvaluationPrompt[], answers: EvaluationAnswer[]): TaskScore[] {
  if (answers.length !== prompts.length) {
    throw new RangeError(`scoreEvaluation: ${answers.length} answers for ${prompts.length} prompts`);
  }
  const byTask = new Map<string, TaskScore>();
  prompts.forEach((prompt, i) => {
    const score = byTask.get(prompt.task) ?? {
      task: prompt.task,
      category: prompt.category,
      count: 0,
      zeroShot: 0,
      fewShot: 0,
      distracted: 0,
    };
    if (typeof answers[i].distracted !== "string") {
      throw new TypeError(
        `scoreEvaluation: answer ${i} has no "distracted" text (answers from before the distracted prompts?)`,
      );
    }
    score.count += 1;
    score.zeroShot += rougeL(answers[i].zeroShot.split("\n")[0], prompt.reference);
    score.fewShot += rougeL(answers[i].fewShot.split("\n")[0], prompt.reference);
    score.distracted += rougeL(answers[i].distracted.split("\n")[0], prompt.reference);
    byTask.set(prompt.task, score);
  });
  return [...byTask.values()].map((score) => ({
    ...score,
    zeroShot: score.zeroShot / score.count,
    fewShot: score.fewShot / score.count,
    distracted: score.distracted / score.count,
  }));
}

/** A Markdown table of ROUGE-L ×100 per task, with the mean and the mean few-shot gain. */
export function evaluationTable(scores: TaskScore[]): string {
  const lines = [
    "| task | category | zero-shot | 3-shot | gain | 3 other-task demos |",
    "|---|---|---:|---:|---:|---:|",
  ];
  const format = (value: number) => (value * 100).toFixed(1);
  for (const score of scores) {
    lines.push(
      `| ${score.task} | ${score.category} | ${format(score.zeroShot)} | ${format(score.fewShot)} | ${format(score.fewShot - score.zeroShot)} | ${format(score.distracted)} |`,
    );
  }
  const mean = (pick: (score: TaskScore) => number) =>
    scores.reduce((sum, score) => sum + pick(score), 0) / scores.length;
  const better = scores.filter((score) => score.fewShot > score.zeroShot).length;
  lines.push(
    `| **mean** | | ${format(mean((s) => s.zeroShot))} | ${format(mean((s) => s.fewShot))} | ${format(mean((s) => s.fewShot - s.zeroShot))} | ${format(mean((s) => s.distracted))} |`,
  );
  lines.push("", `Few-shot beats zero-shot on ${better} of ${scores.length} tasks.`);
  return lines.join("\n");
}

/** Asks a model every prompt zero-shot, few-shot and distracted, `batch` instances at a time. */
export async function answerEvaluationPrompts(
  prompts: EvaluationPrompt[],
  generateBatch: (prompts: string[]) => Promise<string[]>,
  batch = 16,
): Promise<EvaluationAnswer[]> {
  const answers: EvaluationAnswer[] = [];
  for (let start = 0; start < prompts.length; start += batch) {
    const slice = prompts.slice(start, start + batch);
    const texts = await generateBatch([
      ...slice.map((p) => p.zeroShot),
      ...slice.map((p) => p.fewShot),
      ...slice.map((p) => p.distracted),
    ]);
    if (texts.length !== 3 * slice.length) {
      throw new SuiteError(
        "E_BACKEND_OUTPUT",
        `answerEvaluationPrompts: generateBatch returned ${texts.length} texts for ${3 * slice.length} prompts`,
      );
    }
    slice.forEach((_, i) => {
      answers.push({ zeroShot: texts[i], fewShot: texts[slice.length + i], distracted: texts[2 * slice.length + i] });
    });
  }
  return answers;
}
