import fs from "node:fs";
import path from "node:path";
import { continualMetrics, type ReplayStrategy, replayStrategies, runContinual } from "@pillow/replay";
import type { Command } from "commander";
import { usageError } from "../cli-error.js";
import { pick } from "../config.js";
import { commandContext, parseInteger, parseNumber } from "../context.js";
import { createLoraLearner } from "../demo/lora-learner.js";
import { guardInterrupts } from "../interrupt.js";
import { openModel } from "../model-options.js";
import { writeFileAtomic } from "../report/write-report.js";
import { readTasks } from "./continual-tasks.js";
import { registerContinualCompare } from "./continual-compare.js";
import { registerContinualPlan } from "./continual-plan.js";

const STRATEGIES: readonly string[] = replayStrategies;

type ContinualFlags = {
  model?: string;
  tasks?: string[];
  replay?: string;
  replayPerTask?: number;
  testShare: number;
  out?: string;
  r?: number;
  epochs?: number;
  lr?: number;
  batchSize?: number;
  maxTokens: number;
  seed: number;
  json?: boolean;
};

export function registerContinual(program: Command): void {
  // `continual` itself has no options: `run` (the default) and `compare` / `plan` each own theirs, so
  // commander never hands a subcommand's --out or --json to the parent.
  const continual = program
    .command("continual")
    .description(
      "continual LoRA instruction tuning: run (default) one strategy, compare strategies under the paper's protocol, plan stages for an external trainer",
    );
  registerContinualCompare(continual);
  registerContinualPlan(continual);
  continual
    .command("run", { isDefault: true })
    .description(
      "continual LoRA instruction tuning over a sequence of task files, with replay (InsCL and baselines); reports R[i][j], AP, RG, BWT",
    )
    .option("--tasks <files...>", "one Alpaca JSONL/JSON file per task, in training order (required)")
    .option("--out <dir>", "folder for the adapter and results.json (required)")
    .option("--model <dir>", "base model folder")
    .option("--replay <strategy>", `replay strategy: ${STRATEGIES.join(", ")} (default inscl)`)
    .option(
      "--replay-per-task <n>",
      "replayed instances per earlier task (default 200)",
      parseInteger("--replay-per-task", 0),
    )
    .option(
      "--test-share <fraction>",
      "last share of each file held out for evaluation",
      parseNumber("--test-share", 0),
      0.2,
    )
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
      if (!flags.tasks)
        throw usageError(
          "required option '--tasks <files...>' not specified",
          "or run `pillow continual compare` / `pillow continual plan`",
        );
      if (!flags.out) throw usageError("required option '--out <dir>' not specified");
      const out = flags.out;
      const strategy = pick(flags.replay, context.config.continual?.replay, "inscl");
      if (!STRATEGIES.includes(strategy))
        throw usageError(`unknown replay strategy "${strategy}"`, `choose from ${STRATEGIES.join(", ")}`);
      const tasks = readTasks(flags.tasks, flags.testShare);
      const model = await openModel(flags.model, context.config);
      const r = pick(flags.r, context.config.lora?.r, 8);
      model.addAdapter("continual", {
        r,
        alpha: 2 * r,
        targetModules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        seed: flags.seed,
      });
      const guard = guardInterrupts();
      fs.mkdirSync(out, { recursive: true });
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
            stages.push({
              task: report.task,
              scores: report.scores,
              losses: report.losses,
              trainingSize: report.trainingSize,
            });
            // After every stage: the adapter so far and the scores so far (Ctrl-C keeps them).
            model.saveAdapter("continual", path.join(out, "adapter"));
            writeFileAtomic(path.join(out, "results.json"), `${JSON.stringify({ strategy, stages }, null, 2)}\n`);
            context.log(
              `stage ${report.stage + 1}/${tasks.length} ${report.task}: ${report.scores.map((score) => score.toFixed(1)).join(" ")}`,
            );
          },
        });
        const metrics = continualMetrics(result.scores);
        const summary = {
          strategy,
          tasks: tasks.map((task) => task.name),
          scores: result.scores,
          ...metrics,
          plans: result.plans,
          stages,
        };
        writeFileAtomic(path.join(out, "results.json"), `${JSON.stringify(summary, null, 2)}\n`);
        if (flags.json) console.log(JSON.stringify(summary, null, 2));
        else
          context.log(
            `final AP ${metrics.ap.at(-1)!.toFixed(1)}, BWT ${Number.isFinite(metrics.bwt) ? metrics.bwt.toFixed(1) : "n/a"}; adapter in ${path.join(out, "adapter")}`,
          );
      } finally {
        guard.dispose();
      }
    });
}
