// The paper's protocol for one (order, seed) cell: every strategy trained on the same task order
// from the same initial adapter. Stage 0 has no replay, so it is identical for every strategy: it is
// trained once and its adapter copied into each strategy's run (exactly what each run would train).
import type { AdapterOptions, Model } from "@pillow/core";
import type { ContinualLearner } from "../continual/continual-learner.js";
import {
  type RunContinualOptions,
  type RunContinualResult,
  runContinual,
  type StageReport,
} from "../continual/run-continual.js";
import type { ContinualTask, InstructionInstance, ReplayStrategy } from "../planning/replay-plan.js";

export type CompareRun = {
  order: string;
  seed: number;
  strategy: ReplayStrategy;
  /** Task names in training order. */
  tasks: string[];
  /** R[i][j]; null = not evaluated (JSON has no NaN). */
  scores: (number | null)[][];
  final: { ap: number; relativeGain: number; bwt: number; forgetting: number | null };
  plans: RunContinualResult["plans"];
  lookAheads: RunContinualResult["lookAheads"];
  /** Per stage: seconds of training, evaluation and look-ahead (stage 0: the shared stage). */
  stageSeconds: StageReport["seconds"][];
  seconds: number;
};

export type CompareCellOptions<T extends InstructionInstance> = {
  model: Model;
  /** The tasks in this cell's training order. */
  tasks: readonly ContinualTask<T>[];
  order: string;
  seed: number;
  strategies: readonly ReplayStrategy[];
  /** The initial adapter (its seed should be the cell's seed). */
  adapter: AdapterOptions;
  /** A learner training the named, existing adapter of `model`. */
  createLearner: (adapter: string) => ContinualLearner<T>;
  /** Passed to runContinual (replayPerTask, embedder, tagger, probePerTask, floorShare, evaluation...). */
  run?: Pick<
    RunContinualOptions<T>,
    | "replayPerTask"
    | "embedder"
    | "tagger"
    | "probePerTask"
    | "floorShare"
    | "capShare"
    | "directedShare"
    | "sharedInstructions"
    | "stageOrder"
    | "evaluation"
    | "tagMerge"
    | "instructionWeights"
  >;
  /** Strategies already finished for this cell (resume): skipped. */
  skip?: ReadonlySet<ReplayStrategy>;
  onStage?: (strategy: ReplayStrategy, report: StageReport) => void;
  /** Called after every finished strategy run (write it to disk here). */
  onRun: (run: CompareRun) => void | Promise<void>;
};

const finiteOrNull = (value: number) => (Number.isFinite(value) ? value : null);

export async function runCompareCell<T extends InstructionInstance>(
  options: CompareCellOptions<T>,
): Promise<CompareRun[]> {
  const { model, tasks, seed, order } = options;
  const pending = options.strategies.filter((strategy) => !options.skip?.has(strategy));
  if (pending.length === 0) return [];
  const shared = "compare#stage-0";
  const trained = "compare#run";
  for (const name of [shared, trained]) if (model.adapterNames().includes(name)) model.removeAdapter(name);
  model.addAdapter(shared, options.adapter);
  const runs: CompareRun[] = [];
  try {
    // Stage 0 alone, through runContinual itself (same shuffle, same seeds as inside a full run).
    let firstSeconds: StageReport["seconds"] = { train: 0, evaluate: 0, lookAhead: 0 };
    const first = await runContinual({
      ...options.run,
      learner: options.createLearner(shared),
      tasks: tasks.slice(0, 1),
      strategy: "none",
      seed,
      evaluation: "all",
      onStage: (report) => {
        firstSeconds = report.seconds;
        options.onStage?.("none", report);
      },
    });
    const stageZero = first.scores[0];
    for (const strategy of pending) {
      const started = performance.now();
      model.copyAdapter(shared, trained);
      const stageSeconds: StageReport["seconds"][] = [];
      try {
        const result =
          tasks.length === 1
            ? first
            : await runContinual({
                ...options.run,
                learner: options.createLearner(trained),
                tasks,
                strategy,
                seed,
                startStage: 1,
                previousScores: [stageZero],
                onStage: (report) => {
                  stageSeconds.push(report.seconds);
                  options.onStage?.(strategy, report);
                },
              });
        const { ap, relativeGain, bwt, forgetting } = result.metrics;
        const last = tasks.length - 1;
        const earlierForgetting = forgetting.slice(0, last);
        const run: CompareRun = {
          order,
          seed,
          strategy,
          tasks: tasks.map((task) => task.name),
          scores: result.scores.map((row) => row.map(finiteOrNull)),
          final: {
            ap: ap[last],
            relativeGain: relativeGain[last],
            bwt,
            forgetting:
              earlierForgetting.length === 0 || earlierForgetting.some(Number.isNaN)
                ? null
                : earlierForgetting.reduce((sum, value) => sum + value, 0) / earlierForgetting.length,
          },
          plans: result.plans,
          lookAheads: result.lookAheads,
          stageSeconds: [firstSeconds, ...stageSeconds],
          seconds: (performance.now() - started) / 1000,
        };
        runs.push(run);
        await options.onRun(run);
      } finally {
        model.removeAdapter(trained);
      }
    }
  } finally {
    model.removeAdapter(shared);
  }
  return runs;
}
