// Task files of the continual commands: one Alpaca JSONL/JSON file per task, the last share held out
// as the test set; names from the file names, each used once.
import path from "node:path";
import type { Command } from "commander";
import { readInstructionFile } from "@pillow/core";
import {
  defaultDirectedShare,
  defaultFloorShare,
  defaultSharedInstructions,
  defaultStageOrder,
  type SharedInstructions,
  type StageOrder,
  sharedInstructionChoices,
  stageOrders,
} from "@pillow/replay";
import type { Instance } from "@pillow/suite";
import { inputError, usageError } from "../cli-error.js";
import { parseInteger, parseNumber } from "../context.js";

export type TaskFromFile = { name: string; file: string; train: Instance[]; test: Instance[] };

export const taskNameOf = (file: string) => path.basename(file).replace(/\.(train\.)?jsonl?$/i, "");

/** Alpaca records of one task file, split deterministically: the last `share` of the file is the test set. */
export function readTask(file: string, share: number): TaskFromFile {
  const name = taskNameOf(file);
  const instances = readInstructionFile(file).map((example) => {
    if (example.format !== "alpaca") {
      throw inputError(
        `${example.file}:${example.line}: continual tuning needs instruction/input/output records`,
        "convert the file to Alpaca style",
      );
    }
    return { instruction: example.instruction, input: example.input, output: example.output, task: name };
  });
  if (instances.length === 0)
    throw inputError(`${file}: the task file has no instances`, "give each task at least two records (train and test)");
  const testCount = Math.max(1, Math.round(instances.length * share));
  if (instances.length - testCount < 1)
    throw inputError(
      `${file}: too few records (${instances.length}) for a train/test split`,
      "add records or lower --test-share",
    );
  return { name, file, train: instances.slice(0, -testCount), test: instances.slice(-testCount) };
}

/** Every task file, with a clear error when two files give the same task name. */
export function readTasks(files: readonly string[], share: number): TaskFromFile[] {
  if (!(share > 0 && share < 1)) throw usageError("--test-share must be between 0 and 1");
  const tasks = files.map((file) => readTask(file, share));
  const seen = new Map<string, string>();
  for (const task of tasks) {
    const other = seen.get(task.name);
    if (other !== undefined)
      throw usageError(
        `duplicate task name "${task.name}": ${other} and ${task.file}`,
        "rename one of the files (the task name is the file name)",
      );
    seen.set(task.name, task.file);
  }
  return tasks;
}

/**
 * The interference strategy's cap: none. On validation (4 cells: reverse s0, random-1 s0,
 * curriculum s1, random-1 s1) a cap of 0.5 gave RG − random +0.3 against +4.2 uncapped, with AP
 * alike (−0.4 vs −0.5); the full compare on test agreed (RG −0.8 capped, +4.2 uncapped).
 */
export const CAP_SHARE_DEFAULT: number | "none" = "none";

/**
 * A share option that also takes "none" (--cap-share, --directed-share). "none" stays a string:
 * commander turns a null from a parser into "", and settings.json must record the choice as given.
 */
export const parseShareOrNone =
  (flag: string) =>
  (value: string): number | "none" => {
    if (value === "none") return "none";
    const share = Number(value);
    if (!Number.isFinite(share) || share < 0 || value.trim() === "")
      throw usageError(`${flag} must be a number ≥ 0 or "none", got "${value}"`);
    return share;
  };

/** --shared-instructions: replay or skip (see @pillow/replay's planReplay). */
export function parseSharedInstructions(value: string): SharedInstructions {
  if ((sharedInstructionChoices as readonly string[]).includes(value)) return value as SharedInstructions;
  throw usageError(`--shared-instructions must be one of ${sharedInstructionChoices.join(", ")}, got "${value}"`);
}

/** --stage-order: shuffled or current-first (see @pillow/replay's runContinual). */
export function parseStageOrder(value: string): StageOrder {
  if ((stageOrders as readonly string[]).includes(value)) return value as StageOrder;
  throw usageError(`--stage-order must be one of ${stageOrders.join(", ")}, got "${value}"`);
}

/** "none" → no limit (null) as the replay package takes it. */
export const shareOrNull = (value: number | "none"): number | null => (value === "none" ? null : value);

/** The training and look-ahead options that `continual compare` and `continual plan` share (one definition, one default each). */
export function addTrainingOptions(command: Command, what: string): Command {
  return command
    .option("--r <n>", `${what}LoRA rank (q/k/v/o projections)`, parseInteger("--r", 1), 8)
    .option("--epochs <n>", `${what}epochs per stage`, parseInteger("--epochs", 1), 1)
    .option("--lr <rate>", `${what}peak learning rate`, parseNumber("--lr", 0), 2e-3)
    .option("--batch-size <n>", `${what}sequences per step`, parseInteger("--batch-size", 1), 8)
    .option(
      "--probe-per-task <n>",
      "interference: training instances per earlier task in the probe",
      parseInteger("--probe-per-task", 1),
      6,
    )
    .option(
      "--look-ahead-steps <n>",
      "interference: LoRA steps of the look-ahead",
      parseInteger("--look-ahead-steps", 1),
      3,
    )
    .option(
      "--floor-share <fraction>",
      "interference: share of the budget split equally as a floor",
      parseNumber("--floor-share", 0),
      defaultFloorShare,
    )
    .option(
      "--cap-share <fraction>",
      "interference: no earlier task replayed more than this share of the current task's training instances (never below the equal share); none = no cap",
      parseShareOrNone("--cap-share"),
      CAP_SHARE_DEFAULT,
    )
    .option(
      "--directed-share <fraction>",
      "interference: at most this share of the current task's training instances is split by measured increase, the rest equally; none = no limit",
      parseShareOrNone("--directed-share"),
      defaultDirectedShare,
    )
    .option(
      "--shared-instructions <choice>",
      "earlier instances whose instruction the current task also uses: replay, or skip (left out of the replay and of the look-ahead's probes)",
      parseSharedInstructions,
      defaultSharedInstructions,
    )
    .option(
      "--stage-order <order>",
      "a stage's training set: current-first (half the current task's instances alone, then the rest mixed with the replay) or shuffled (all mixed)",
      parseStageOrder,
      defaultStageOrder,
    );
}
