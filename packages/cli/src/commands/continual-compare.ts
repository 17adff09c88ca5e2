// `pillow continual compare`: the paper's protocol. Every strategy on every (order, seed) cell, one
// LoRA adapter per run from the same initial adapter; the table of final AP / RG / BWT / forgetting
// with each strategy minus random paired per cell (bootstrap 95 % intervals). Each finished run is
// written to OUT/runs/ at once, so an interrupted compare keeps it and `--resume` skips it.
import fs from "node:fs";
import path from "node:path";
import { loadModel } from "@pillow/core";
import {
  type CompareRun,
  compareTableMarkdown,
  type ContinualTask,
  meanScores,
  type ReplayStrategy,
  replayStrategies,
  resolveOrders,
  runCompareCell,
  scoreHeatmapSvg,
  summariseCompare,
  type TrainingOrder,
  type SharedInstructions,
  type StageOrder,
} from "@pillow/replay";
import { buildSuite, type Instance, tinyModelDir } from "@pillow/suite";
import type { Command } from "commander";
import { inputError, usageError } from "../cli-error.js";
import { commandContext, parseInteger, parseNumber } from "../context.js";
import { createLoraLearner } from "../demo/lora-learner.js";
import { guardInterrupts, Interrupted } from "../interrupt.js";
import { modelDirectory } from "../model-options.js";
import { writeFileAtomic } from "../report/write-report.js";
import { addTrainingOptions, readTasks, shareOrNull } from "./continual-tasks.js";

type CompareFlags = {
  tasks?: string[];
  suite?: boolean;
  model?: string;
  strategies: string;
  orders: string;
  seeds: string;
  out: string;
  json?: string;
  resume?: boolean;
  replayPerTask: number;
  trainPerTask: number;
  testPerTask: number;
  testShare: number;
  r: number;
  epochs: number;
  lr: number;
  batchSize: number;
  maxTokens: number;
  probePerTask: number;
  lookAheadSteps: number;
  floorShare: number;
  capShare: number | "none";
  directedShare: number | "none";
  sharedInstructions: SharedInstructions;
  stageOrder: StageOrder;
  evaluation: string;
};

/** Everything that decides a run's result: a resumed compare must have the same. */
export type CompareSettings = Pick<
  CompareFlags,
  | "replayPerTask"
  | "r"
  | "epochs"
  | "lr"
  | "batchSize"
  | "maxTokens"
  | "probePerTask"
  | "lookAheadSteps"
  | "floorShare"
  | "capShare"
  | "directedShare"
  | "sharedInstructions"
  | "stageOrder"
  | "evaluation"
> & {
  source: { suite: true; trainPerTask: number; testPerTask: number } | { files: string[]; testShare: number };
  model: string;
  targetModules: string[];
};

const TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj"] as const;

export function parseList(flag: string, value: string): string[] {
  const items = value
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
  if (items.length === 0) throw usageError(`${flag} is empty`);
  if (new Set(items).size !== items.length) throw usageError(`${flag} lists an entry twice: ${value}`);
  return items;
}

export function parseStrategies(value: string): ReplayStrategy[] {
  const items = parseList("--strategies", value);
  for (const item of items) {
    if (!(replayStrategies as readonly string[]).includes(item))
      throw usageError(`--strategies: unknown strategy "${item}"`, `choose from ${replayStrategies.join(", ")}`);
  }
  return items as ReplayStrategy[];
}

export function parseSeeds(value: string): number[] {
  return parseList("--seeds", value).map((item) => {
    const seed = Number(item);
    if (!Number.isInteger(seed) || seed < 0) throw usageError(`--seeds: "${item}" is not an integer ≥ 0`);
    return seed;
  });
}

export const runFileName = (order: string, seed: number, strategy: string) =>
  `${order.replace(/[^A-Za-z0-9_.-]+/g, "_")}__seed-${seed}__${strategy}.json`;

/** Reads the finished runs of OUT/runs (resume); a file from other settings is an error. */
function readFinishedRuns(directory: string): CompareRun[] {
  const runsDirectory = path.join(directory, "runs");
  if (!fs.existsSync(runsDirectory)) return [];
  return fs
    .readdirSync(runsDirectory)
    .filter((name) => name.endsWith(".json"))
    .sort()
    .map((name) => {
      const file = path.join(runsDirectory, name);
      try {
        const run = JSON.parse(fs.readFileSync(file, "utf8")) as CompareRun;
        // JSON writes NaN (RG of a run whose every R[j][j] is 0) as null: read it back as NaN.
        for (const field of ["ap", "relativeGain", "bwt"] as const) run.final[field] ??= Number.NaN;
        return run;
      } catch (error) {
        throw inputError(`${file}: not valid JSON (${(error as Error).message})`, "delete the file to run it again");
      }
    });
}

export function registerContinualCompare(continual: Command): void {
  const compare = continual.command("compare");
  addTrainingOptions(compare, "");
  compare
    .description(
      "the paper's protocol: every replay strategy on every (training order, seed); AP, RG, BWT, forgetting; paired differences to random with bootstrap 95 % intervals",
    )
    .option("--tasks <files...>", "one Alpaca JSONL/JSON file per task, in curriculum order")
    .option("--suite", "the built-in 16-task suite (curriculum order) on the shipped tiny model")
    .option("--model <dir>", "base model folder (default with --suite: the shipped tiny model)")
    .option("--strategies <list>", "comma-separated strategies", replayStrategies.join(","))
    .option(
      "--orders <list>",
      "curriculum, reverse, random:N (seeded permutations) or explicit a>b>c",
      "curriculum,reverse,random:2",
    )
    .option(
      "--seeds <list>",
      "comma-separated seeds (adapter init, shuffles, replay draws; the suite's split)",
      "0,1,2",
    )
    .option("--out <dir>", "folder for runs/, compare.json, compare.md and the heat-maps", "pillow-compare")
    .option("--json <file>", "also write the summary as JSON here (- for stdout)")
    .option("--resume", "keep the finished runs in --out and run only the rest")
    .option(
      "--replay-per-task <n>",
      "replayed instances per earlier task (stage i replays n·i)",
      parseInteger("--replay-per-task", 0),
      10,
    )
    .option("--train-per-task <n>", "--suite: training instances per task", parseInteger("--train-per-task", 1), 40)
    .option("--test-per-task <n>", "--suite: test instances per task", parseInteger("--test-per-task", 1), 20)
    .option(
      "--test-share <fraction>",
      "--tasks: last share of each file held out for evaluation",
      parseNumber("--test-share", 0),
      0.2,
    )
    .option("--max-tokens <n>", "tokens generated per test answer", parseInteger("--max-tokens", 1), 32)
    .option(
      "--evaluation <which>",
      "first-order: full R on the first order, diagonal + last row on the others; all: full R everywhere",
      "first-order",
    )
    .addHelpText(
      "after",
      `
Examples:
  pillow continual compare --suite --orders curriculum,reverse,random:2 --seeds 0,1,2 --out runs/compare
  pillow continual compare --suite --resume --out runs/compare        (after Ctrl-C: runs only what is missing)
  pillow continual compare --tasks a.jsonl b.jsonl c.jsonl --model DIR --strategies random,interference --seeds 0,1`,
    )
    .action(async (flags: CompareFlags, command: Command) => {
      const context = commandContext(command, { json: flags.json });
      if ((flags.suite ? 1 : 0) + (flags.tasks ? 1 : 0) !== 1)
        throw usageError("give either --tasks FILES... or --suite");
      const strategies = parseStrategies(flags.strategies);
      const seeds = parseSeeds(flags.seeds);
      if (!(flags.floorShare >= 0 && flags.floorShare <= 1)) throw usageError("--floor-share must be in [0, 1]");
      if (flags.evaluation !== "first-order" && flags.evaluation !== "all")
        throw usageError(`--evaluation must be first-order or all, got "${flags.evaluation}"`);
      const fileTasks = flags.tasks ? readTasks(flags.tasks, flags.testShare) : undefined;
      const tasksOfSeed = (seed: number): ContinualTask<Instance>[] =>
        fileTasks ??
        buildSuite({ seed, trainPerTask: flags.trainPerTask, testPerTask: flags.testPerTask }).tasks.map((task) => ({
          name: task.name,
          train: task.train,
          test: task.test,
        }));
      const curriculum = tasksOfSeed(seeds[0]).map((task) => task.name);
      let orders: TrainingOrder[];
      try {
        orders = resolveOrders(parseList("--orders", flags.orders), curriculum);
      } catch (error) {
        throw usageError(`--orders: ${(error as Error).message.replace(/^orders: /, "")}`);
      }
      const model = flags.suite && !flags.model ? tinyModelDir : modelDirectory(flags.model, context.config);
      const settings: CompareSettings = {
        source: fileTasks
          ? { files: fileTasks.map((task) => path.resolve(task.file)), testShare: flags.testShare }
          : { suite: true, trainPerTask: flags.trainPerTask, testPerTask: flags.testPerTask },
        model: path.resolve(model),
        replayPerTask: flags.replayPerTask,
        r: flags.r,
        targetModules: [...TARGET_MODULES],
        epochs: flags.epochs,
        lr: flags.lr,
        batchSize: flags.batchSize,
        maxTokens: flags.maxTokens,
        probePerTask: flags.probePerTask,
        lookAheadSteps: flags.lookAheadSteps,
        floorShare: flags.floorShare,
        capShare: flags.capShare,
        directedShare: flags.directedShare,
        sharedInstructions: flags.sharedInstructions,
        stageOrder: flags.stageOrder,
        evaluation: flags.evaluation,
      };
      const settingsFile = path.join(flags.out, "settings.json");
      let finished: CompareRun[] = [];
      if (fs.existsSync(settingsFile)) {
        if (!flags.resume)
          throw usageError(
            `${flags.out} already holds a compare`,
            "pass --resume to continue it, or choose another --out",
          );
        const previous = JSON.stringify(JSON.parse(fs.readFileSync(settingsFile, "utf8")));
        if (previous !== JSON.stringify(settings)) {
          throw usageError(
            `${settingsFile}: the compare there was run with other settings`,
            "resume with the same flags, or choose another --out",
          );
        }
        finished = readFinishedRuns(flags.out);
      } else {
        writeFileAtomic(settingsFile, `${JSON.stringify(settings, null, 2)}\n`);
      }
      const runs = [...finished];
      const key = (order: string, seed: number, strategy: string) => `${order}\u0000${seed}\u0000${strategy}`;
      const done = new Set(finished.map((run) => key(run.order, run.seed, run.strategy)));
      const writeSummary = () => {
        const summary = summariseCompare(runs, strategies, "random");
        const table = compareTableMarkdown(summary);
        writeFileAtomic(
          path.join(flags.out, "compare.json"),
          `${JSON.stringify({ settings, orders, seeds, ...summary }, null, 2)}\n`,
        );
        writeFileAtomic(path.join(flags.out, "compare.md"), `${table}\n`);
        for (const strategy of strategies) {
          const mean = meanScores(runs, strategy, orders[0].name);
          if (!mean) continue;
          writeFileAtomic(
            path.join(flags.out, `heatmap-${strategy}.svg`),
            scoreHeatmapSvg(mean, {
              labels: orders[0].tasks,
              title: `ROUGE-L after each stage: ${strategy}, order ${orders[0].name}, mean over seeds`,
            }),
          );
        }
        return { summary, table };
      };
      const total = orders.length * seeds.length * strategies.length;
      context.log(
        `continual compare: ${orders.length} orders × ${seeds.length} seeds × ${strategies.length} strategies = ${total} runs (${done.size} already finished) → ${flags.out}`,
      );
      const guard = guardInterrupts();
      const started = performance.now();
      try {
        const loaded = await loadModel(model);
        for (const [orderIndex, order] of orders.entries()) {
          for (const seed of seeds) {
            const byName = new Map(tasksOfSeed(seed).map((task) => [task.name, task]));
            const tasks = order.tasks.map((name) => byName.get(name)!);
            await runCompareCell<Instance>({
              model: loaded,
              tasks,
              order: order.name,
              seed,
              strategies,
              skip: new Set(strategies.filter((strategy) => done.has(key(order.name, seed, strategy)))),
              adapter: { r: flags.r, alpha: 2 * flags.r, targetModules: [...TARGET_MODULES], seed },
              createLearner: (adapter) =>
                createLoraLearner(loaded, {
                  adapter,
                  epochs: flags.epochs,
                  batchSize: flags.batchSize,
                  learningRate: flags.lr,
                  maxNewTokens: flags.maxTokens,
                  seed,
                  lookAheadSteps: flags.lookAheadSteps,
                  checkInterrupted: () => guard.check(),
                }),
              run: {
                replayPerTask: flags.replayPerTask,
                probePerTask: flags.probePerTask,
                floorShare: flags.floorShare,
                capShare: shareOrNull(flags.capShare) ?? undefined,
                directedShare: shareOrNull(flags.directedShare),
                sharedInstructions: flags.sharedInstructions,
                stageOrder: flags.stageOrder,
                evaluation: flags.evaluation === "all" || orderIndex === 0 ? "all" : "diagonal-and-final",
              },
              onRun: (run) => {
                writeFileAtomic(
                  path.join(flags.out, "runs", runFileName(run.order, run.seed, run.strategy)),
                  `${JSON.stringify(run)}\n`,
                );
                runs.push(run);
                done.add(key(run.order, run.seed, run.strategy));
                writeSummary();
                context.log(
                  `[${done.size}/${total}] ${run.order} seed ${run.seed} ${run.strategy}: AP ${run.final.ap.toFixed(1)}, RG ${run.final.relativeGain.toFixed(1)}, BWT ${run.final.bwt.toFixed(1)}, ${run.seconds.toFixed(0)} s (${((performance.now() - started) / 60000).toFixed(1)} min so far)`,
                );
              },
            });
          }
        }
      } catch (error) {
        if (error instanceof Interrupted) {
          context.log(
            `interrupted: ${done.size}/${total} runs are in ${path.join(flags.out, "runs")}; continue with --resume`,
          );
        }
        throw error;
      } finally {
        guard.dispose();
      }
      const { summary, table } = writeSummary();
      const output = { settings, orders, seeds, ...summary, minutes: (performance.now() - started) / 60000 };
      if (flags.json === "-") console.log(JSON.stringify(output, null, 2));
      else if (flags.json) writeFileAtomic(flags.json, `${JSON.stringify(output, null, 2)}\n`);
      if (flags.json !== "-")
        context.log(
          `\n${table}\n\nwrote ${flags.out}/compare.json, compare.md, runs/ and one heat-map per strategy (order ${orders[0].name})`,
        );
    });
}
