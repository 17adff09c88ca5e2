// `pillow continual plan`: each stage's training set (current task + replay) as JSONL with a
// manifest, for an existing trainer (PEFT/TRL, axolotl) to run the stages on a GPU cluster.
// Planning does not evaluate: the test split is never read into a stage file.
import path from "node:path";
import { loadModel } from "@pillow/core";
import {
  type ContinualLearner,
  type ReplayStrategy,
  type SharedInstructions,
  type StageOrder,
  replayStrategies,
  runContinual,
} from "@pillow/replay";
import type { Instance } from "@pillow/suite";
import type { Command } from "commander";
import { usageError } from "../cli-error.js";
import { commandContext, parseInteger, parseNumber } from "../context.js";
import { createLoraLearner } from "../demo/lora-learner.js";
import { modelDirectory } from "../model-options.js";
import { writeFileAtomic } from "../report/write-report.js";
import { addTrainingOptions, readTasks, shareOrNull } from "./continual-tasks.js";

type PlanFlags = {
  tasks: string[];
  replay: string;
  replayPerTask: number;
  testShare: number;
  seed: number;
  out: string;
  model?: string;
  backend?: string;
  r: number;
  epochs: number;
  lr: number;
  batchSize: number;
  probePerTask: number;
  lookAheadSteps: number;
  floorShare: number;
  capShare: number | "none";
  directedShare: number | "none";
  sharedInstructions: SharedInstructions;
  stageOrder: StageOrder;
  json?: boolean;
};

export const stageFileName = (stage: number, task: string) =>
  `stage-${String(stage).padStart(2, "0")}-${task.replace(/[^A-Za-z0-9_.-]+/g, "_")}.jsonl`;

export function registerContinualPlan(continual: Command): void {
  const plan = continual.command("plan");
  addTrainingOptions(plan, "interference: ");
  plan
    .description(
      "write each stage's training set (current task + replay) as JSONL and a manifest.json, for an external trainer",
    )
    .requiredOption("--tasks <files...>", "one Alpaca JSONL/JSON file per task, in training order")
    .requiredOption("--out <dir>", "folder for stage-NN-<task>.jsonl and manifest.json")
    .option("--replay <strategy>", `replay strategy: ${replayStrategies.join(", ")}`, "inscl")
    .option(
      "--replay-per-task <n>",
      "replayed instances per earlier task (stage i replays n·i)",
      parseInteger("--replay-per-task", 0),
      200,
    )
    .option(
      "--test-share <fraction>",
      "last share of each file held out (never written to a stage)",
      parseNumber("--test-share", 0),
      0.2,
    )
    .option("--seed <n>", "seed", parseInteger("--seed", 0), 0)
    .option(
      "--model <dir>",
      "interference: the native model whose adapter is trained stage by stage to measure forgetting",
    )
    .option("--backend <kind>", "interference: only native (the look-ahead trains LoRA steps)")
    .option("--json", "print the manifest as JSON")
    .addHelpText(
      "after",
      `
Examples:
  pillow continual plan --tasks a.jsonl b.jsonl c.jsonl --replay inscl --out plan
  pillow continual plan --tasks a.jsonl b.jsonl c.jsonl --replay interference --model tiny-model --out plan`,
    )
    .action(async (flags: PlanFlags, command: Command) => {
      const context = commandContext(command, { json: flags.json });
      if (!(replayStrategies as readonly string[]).includes(flags.replay)) {
        throw usageError(`unknown replay strategy "${flags.replay}"`, `choose from ${replayStrategies.join(", ")}`);
      }
      const strategy = flags.replay as ReplayStrategy;
      if (flags.backend !== undefined && flags.backend !== "native") {
        throw usageError(
          `--backend ${flags.backend}: the interference look-ahead trains LoRA steps on a copy of the adapter, which needs the native model`,
          "pass --model DIR",
        );
      }
      if (!(flags.floorShare >= 0 && flags.floorShare <= 1)) throw usageError("--floor-share must be in [0, 1]");
      const tasks = readTasks(flags.tasks, flags.testShare);
      const stageSets: Instance[][] = [];
      let inner: ContinualLearner<Instance> | undefined;
      if (strategy === "interference") {
        if (!flags.model) {
          throw usageError(
            'strategy "interference" cannot be planned without a model: it measures each earlier task\'s loss increase on the adapter trained through the previous stages',
            "pass --model DIR (the base model the stages will be trained on), or plan with inscl, uniform or random",
          );
        }
        const model = await loadModel(modelDirectory(flags.model, context.config));
        model.addAdapter("plan", {
          r: flags.r,
          alpha: 2 * flags.r,
          targetModules: ["q_proj", "k_proj", "v_proj", "o_proj"],
          seed: flags.seed,
        });
        inner = createLoraLearner(model, {
          adapter: "plan",
          epochs: flags.epochs,
          batchSize: flags.batchSize,
          learningRate: flags.lr,
          maxNewTokens: 1,
          seed: flags.seed,
          lookAheadSteps: flags.lookAheadSteps,
        });
      }
      // Records each stage's training set; trains the native adapter only where measurements need it.
      const learner: ContinualLearner<Instance> = {
        async trainStage(instances, stage, task) {
          stageSets.push(instances);
          if (inner && stage < tasks.length - 1) return inner.trainStage(instances, stage, task);
          return { losses: [] };
        },
        // Planning scores nothing: the value is discarded (the test split is not evaluated).
        evaluate: async () => 0,
        ...(inner
          ? { probeInterference: (current, probes, stage) => inner!.probeInterference!(current, probes, stage) }
          : {}),
      };
      const result = await runContinual({
        learner,
        tasks,
        strategy,
        replayPerTask: flags.replayPerTask,
        seed: flags.seed,
        probePerTask: flags.probePerTask,
        floorShare: flags.floorShare,
        capShare: shareOrNull(flags.capShare) ?? undefined,
        directedShare: shareOrNull(flags.directedShare),
        sharedInstructions: flags.sharedInstructions,
        stageOrder: flags.stageOrder,
        evaluation: "diagonal-and-final",
        onStage: (report) =>
          context.log(
            `stage ${report.stage + 1}/${tasks.length} ${report.task}: ${report.trainingSize} instances (${report.plan.budget} replayed)`,
          ),
      });
      const stages = result.plans.map((plan, stage) => {
        const file = stageFileName(stage, plan.task);
        writeFileAtomic(
          path.join(flags.out, file),
          stageSets[stage].map((instance) => `${JSON.stringify(instance)}\n`).join(""),
        );
        return {
          stage,
          task: plan.task,
          file,
          instances: stageSets[stage].length,
          current: tasks[stage].train.length,
          budget: plan.budget,
          replay: plan.perTask,
          ...(result.lookAheads[stage] ? { lookAhead: result.lookAheads[stage] } : {}),
          ...(result.distances[stage]?.length ? { distances: result.distances[stage] } : {}),
        };
      });
      const manifest = {
        strategy,
        seed: flags.seed,
        replayPerTask: flags.replayPerTask,
        testShare: flags.testShare,
        ...(strategy === "interference"
          ? {
              model: path.resolve(flags.model!),
              lookAheadSteps: flags.lookAheadSteps,
              probePerTask: flags.probePerTask,
              floorShare: flags.floorShare,
              capShare: flags.capShare,
              directedShare: flags.directedShare,
            }
          : {}),
        sharedInstructions: flags.sharedInstructions,
        // The stage files are in training order: with current-first, a trainer must not reshuffle them.
        stageOrder: flags.stageOrder,
        tasks: tasks.map((task) => ({
          name: task.name,
          file: path.resolve(task.file),
          train: task.train.length,
          test: task.test.length,
        })),
        stages,
      };
      writeFileAtomic(path.join(flags.out, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
      if (flags.json) console.log(JSON.stringify(manifest, null, 2));
      else context.log(`wrote ${stages.length} stage files and manifest.json to ${flags.out}`);
    });
}
