// buildSuite: the 16 tasks with deterministic, disjoint train/test splits.
import { SuiteError } from "./errors.js";
import { createRandom, hashString } from "./random.js";
import { loadTaskDefinitions } from "./tasks/index.js";
import type { TaskDefinition } from "./tasks/task.js";

export type Instance = { instruction: string; input: string; output: string; task: string };

export type SuiteTask = {
  name: string;
  category: string;
  /** The input family: tasks of one family share their input distribution (number, phrase, word, sentence, dialogue). */
  family: string;
  /** Unique instruction phrasings, most frequent first within each kind (specific, vague, unseen). */
  instructions: string[];
  /** The vague phrasings: shared with other tasks, they do not say which task is meant. */
  vagueInstructions: string[];
  /** The "user" phrasings kept out of the tiny model's pretraining corpus. */
  unseenInstructions: string[];
  train: Instance[];
  test: Instance[];
};

export type Suite = { tasks: SuiteTask[] };

export type SuiteOptions = { seed?: number; trainPerTask?: number; testPerTask?: number };

/** Limits that keep every example learnable by the tiny byte-level model. */
export const maxInputLength = 60;
export const maxOutputLength = 24;

/**
 * Whether an input belongs to the held-out side of its task. The partition depends only on the task
 * and the input, never on the seed: test instances of every seed come from the held-out side and the
 * pretraining corpus only from the other, so no suite's test set can leak into the tiny model.
 */
export function isHeldOut(task: string, input: string): boolean {
  return hashString(`${task}\u0000${input}`) % 5 === 0;
}

function checkCount(name: string, value: number | undefined, fallback: number): number {
  const count = value ?? fallback;
  if (!Number.isInteger(count) || count < 0) {
    throw new RangeError(`buildSuite: ${name} must be a non-negative integer, got ${value}`);
  }
  return count;
}

export type TaskSplit = { train: Instance[]; test: Instance[] };

/**
 * Draws `trainCount` instances from the non-held-out side and `testCount` from the held-out side,
 * unique by input. The random stream is the task's own (seeded by seed and task name), so adding
 * or reordering tasks never changes another task's data.
 */
export function buildTaskSplit(
  definition: TaskDefinition,
  seed: number,
  trainCount: number,
  testCount: number,
): TaskSplit {
  const random = createRandom(`${seed}:${definition.name}`);
  const weights = definition.phrasings.map((phrasing) => phrasing.weight);
  const seen = new Set<string>();
  const train: Instance[] = [];
  const test: Instance[] = [];
  // Give up after this many draws in a row that add nothing: the task's input space is exhausted.
  const maxFruitlessDraws = 20_000;
  let fruitless = 0;
  while (train.length < trainCount || test.length < testCount) {
    if (++fruitless > maxFruitlessDraws) break;
    const example = definition.draw(random);
    if (!example) continue;
    const { input, output } = example;
    if (input.length > maxInputLength || output.length > maxOutputLength || output.length === 0) continue;
    if (seen.has(input)) continue;
    seen.add(input);
    const instruction = definition.phrasings[random.weighted(weights)].text;
    const instance: Instance = { instruction, input, output, task: definition.name };
    const side = isHeldOut(definition.name, input) ? test : train;
    if (side.length < (side === test ? testCount : trainCount)) {
      side.push(instance);
      fruitless = 0;
    }
  }
  if (train.length < trainCount || test.length < testCount) {
    throw new SuiteError(
      "E_TOO_FEW_INSTANCES",
      `buildSuite: task "${definition.name}" has only ${train.length} train / ${test.length} test distinct inputs ` +
        `within reach; ask for fewer than trainPerTask=${trainCount} / testPerTask=${testCount}`,
      { task: definition.name },
    );
  }
  return { train, test };
}

export function buildSuite(options: SuiteOptions = {}): Suite {
  const seed = options.seed ?? 0;
  if (!Number.isFinite(seed)) throw new RangeError(`buildSuite: seed must be a finite number, got ${options.seed}`);
  const trainCount = checkCount("trainPerTask", options.trainPerTask, 100);
  const testCount = checkCount("testPerTask", options.testPerTask, 20);
  return {
    tasks: loadTaskDefinitions().map((definition) => {
      const { train, test } = buildTaskSplit(definition, seed, trainCount, testCount);
      return {
        name: definition.name,
        category: definition.category,
        family: definition.family,
        instructions: definition.phrasings.map((phrasing) => phrasing.text),
        vagueInstructions: definition.phrasings
          .filter((phrasing) => phrasing.kind === "vague")
          .map((phrasing) => phrasing.text),
        unseenInstructions: definition.phrasings
          .filter((phrasing) => phrasing.kind === "unseen")
          .map((phrasing) => phrasing.text),
        train,
        test,
      };
    }),
  };
}

export type InstructionKind = "specific" | "vague" | "unseen";
export const instructionKinds: readonly InstructionKind[] = ["specific", "vague", "unseen"];

/** The kind of every instruction of the suite: specific, vague (shared by a family) or unseen. */
export function instructionKindMap(suite: Suite): Map<string, InstructionKind> {
  const kinds = new Map<string, InstructionKind>();
  for (const task of suite.tasks) {
    for (const instruction of task.instructions) kinds.set(instruction, "specific");
    for (const instruction of task.vagueInstructions) kinds.set(instruction, "vague");
    for (const instruction of task.unseenInstructions) kinds.set(instruction, "unseen");
  }
  return kinds;
}
