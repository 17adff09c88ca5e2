import fs from "node:fs";
import path from "node:path";
import { readInstructionFile } from "@pillow/core";
import { continualMetrics, type ReplayStrategy, runContinual } from "@pillow/replay";
import type { Instance } from "@pillow/suite";
import type { Command } from "commander";
import { inputError, usageError } from "../cli-error.js";
import { pick } from "../config.js";
import { commandContext, parseInteger, parseNumber } from "../context.js";
import { createLoraLearner } from "../demo/lora-learner.js";
import { guardInterrupts } from "../interrupt.js";
import { openModel } from "../model-options.js";
import { writeFileAtomic } from "../report/write-report.js";

const STRATEGIES = ["none", "random", "uniform", "inscl-dynamic", "inscl"];

type ContinualFlags = {
  model?: string;
  tasks: string[];
  replay?: string;
  replayPerTask?: number;
  testShare: number;
  out: string;
  r?: number;
  epochs?: number;
  lr?: number;
  batchSize?: number;
  maxTokens: number;
  seed: number;
  json?: boolean;
};

/** Alpaca records of one task file, split deterministically: the last `share` of the file is the test set. */
function readTask(file: string, share: number): { name: string; train: Instance[]; test: Instance[] } {
  const name = path.basename(file).replace(/\.(train\.)?jsonl?$/i, "");
  const instances = readInstructionFile(file).map((example) => {
    if (example.format !== "alpaca") {
      throw inputError(`${example.file}:${example.line}: continual tuning needs instruction/input/output records`, "convert the file to Alpaca style");
    }
    return { instruction: example.instruction, input: example.input, output: example.output, task: name };
  });
  const testCount = Math.max(1, Math.round(instances.length * share));
  if (instances.length - testCount < 1) throw inputError(`${file}: too few records (${instances.length}) for a train/test split`, "add records or lower --test-share");
  return { name, train: instances.slice(0, -testCount), test: instances.slice(-testCount) };
}

export function registerContinual(program: Command): void {
  program
    .command("continual")
    .description("continual LoRA instruction tuning over a sequence of task files, with replay (InsCL and baselines); reports R[i][j], AP, RG, BWT")
    .requiredOption("--tasks <files...>", "one Alpaca JSONL/JSON file per task, in training order")
    .requiredOption("--out <dir>", "folder for the adapter and results.json")
    .option("--model <dir>", "base model folder")
    .option("--replay <strategy>", `replay strategy: ${STRATEGIES.join(", ")} (default inscl)`)
    .option("--replay-per-task <n>", "replayed instances per earlier task (default 200)", parseInteger("--replay-per-task", 0))
    .option("--test-share <fraction>", "last share of each file held out for evaluation", parseNumber("--test-share", 0), 0.2)
    .option("--r <n>", "LoRA rank (default 8)", parseInteger("--r", 1))
    .option("--epochs <n>", "epochs per stage (default 2)", parseInteger("--epochs", 1))
    .option("--lr <rate>", "peak learning rate (default 3e-3)", parseNumber("--lr", 0))
    .option("--batch-size <n>", "sequences per step (default 8)", parseInteger("--batch-size", 1))
    .option("--max-tokens <n>", "tokens generated per test answer", parseInteger("--max-tokens", 1), 32)
    .option("--seed <n>", "seed", parseInteger("--seed"), 0)
    .option("--json", "print the results as JSON")
    .addHelpText(
      "after",
      `
Examples:
  pillow suite export --out data
  pillow continual --model tiny-model --tasks data/00-*.train.jsonl data/01-*.train.jsonl data/02-*.train.jsonl --replay inscl --out runs/cl`,
    )
    .action(async (flags: ContinualFlags, command: Command) => {
      const context = commandContext(command, { json: flags.json });
      const strategy = pick(flags.replay, context.config.continual?.replay, "inscl");
      if (!STRATEGIES.includes(strategy)) throw usageError(`unknown replay strategy "${strategy}"`, `choose from ${STRATEGIES.join(", ")}`);
      if (!(flags.testShare > 0 && flags.testShare < 1)) throw usageError("--test-share must be between 0 and 1");
      const tasks = flags.tasks.map((file) => readTask(file, flags.testShare));
      const model = await openModel(flags.model, context.config);
      const r = pick(flags.r, context.config.lora?.r, 8);
      model.addAdapter("continual", { r, alpha: 2 * r, targetModules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], seed: flags.seed });
      const guard = guardInterrupts();
      fs.mkdirSync(flags.out, { recursive: true });
      const stages: { task: string; scores: number[]; losses: number[]; trainingSize: number }[] = [];
      const learner = createLoraLearner(model, {
        adapter: "continual",
        epochs: pick(flags.epochs, context.config.train?.epochs, 2),
        batchSize: pick(flags.batchSize, context.config.train?.batchSize, 8),
        learningRate: pick(flags.lr, context.config.train?.learningRate, 3e-3),
        maxNewTokens: flags.maxTokens,
        seed: flags.seed,
        checkInterrupted: () => guard.check(),
      });
      try {
        const result = await runContinual({
          learner,
          tasks,
          strategy: strategy as ReplayStrategy,
          replayPerTask: pick(flags.replayPerTask, context.config.continual?.replayPerTask, 200),
          seed: flags.seed,
          onStage: (report) => {
            stages.push({ task: report.task, scores: report.scores, losses: report.losses, trainingSize: report.trainingSize });
            // After every stage: the adapter so far and the scores so far (Ctrl-C keeps them).
            model.saveAdapter("continual", path.join(flags.out, "adapter"));
            writeFileAtomic(path.join(flags.out, "results.json"), `${JSON.stringify({ strategy, stages }, null, 2)}\n`);
            context.log(`stage ${report.stage + 1}/${tasks.length} ${report.task}: ${report.scores.map((score) => score.toFixed(1)).join(" ")}`);
          },
        });
        const metrics = continualMetrics(result.scores);
        const summary = { strategy, tasks: tasks.map((task) => task.name), scores: result.scores, ...metrics, plans: result.plans, stages };
        writeFileAtomic(path.join(flags.out, "results.json"), `${JSON.stringify(summary, null, 2)}\n`);
        if (flags.json) console.log(JSON.stringify(summary, null, 2));
        else context.log(`final AP ${metrics.ap.at(-1)!.toFixed(1)}, BWT ${Number.isFinite(metrics.bwt) ? metrics.bwt.toFixed(1) : "n/a"}; adapter in ${path.join(flags.out, "adapter")}`);
      } finally {
        guard.dispose();
      }
    });
}
