// `pillow demo`: the whole pipeline on the embedded tiny model and the built-in suite.
//  1. continual LoRA fine-tuning over the tasks with replay none / random / inscl / interference (one adapter each),
//     R[i][j] = ROUGE-L ×100 on every seen task's test split after each stage;
//  2. the PILLOW matcher trained by policy gradient on the final InsCL adapter;
//  3. none / random / kNN / BM25 / PILLOW demonstrations compared on held-out queries;
//  4. the HTML report and the JSON summary.
// Results are written as they finish (results.json, adapters/, matcher/), so Ctrl-C keeps them.
import fs from "node:fs";
import path from "node:path";
import { bootstrapInterval, loadModel, type Model, NativeBackend } from "@pillow/core";
import { createEmbedder, entryText, PromptPool, saveMatcherBundle } from "@pillow/matcher";
import { continualMetrics, type PairedInterval, type ReplayStrategy, runContinual } from "@pillow/replay";
import { buildSuite, type Instance, type Suite, type SuiteTask, tinyModelDir } from "@pillow/suite";
import { inputError } from "../cli-error.js";
import { createProgress, type ProgressMode } from "../progress.js";
import type { DemoSummary, StrategySummary } from "../report/summary.js";
import { writeFileAtomic, writeReport } from "../report/write-report.js";
import { comparisonJson, comparisonVerdict } from "../matching/comparison-report.js";
import { compareOnSetup, type MatchingSetup } from "../matching/matching-setup.js";
import { defaultPillowSettings } from "../matching/pillow-settings.js";
import { suiteSetupParts, toQuery } from "../matching/suite-comparison.js";
import { createLoraLearner } from "./lora-learner.js";

export type DemoSettings = {
  tasks: number;
  trainPerTask: number;
  testPerTask: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  replayPerTask: number;
  rank: number;
  maxNewTokens: number;
  matcher: {
    poolPerTask: number;
    trainQueriesPerTask: number;
    validationQueriesPerTask: number;
    testQueriesPerTask: number;
    warmStartEpochs: number;
    steps: number;
    samplesPerQuery: number;
    queriesPerStep: number;
    validationEvery: number;
    k: number;
  };
};

/** ~1 minute on 2 cores: enough to exercise every phase. */
export const quickSettings: DemoSettings = {
  tasks: 3,
  trainPerTask: 24,
  testPerTask: 6,
  epochs: 2,
  batchSize: 8,
  learningRate: 3e-3,
  replayPerTask: 6,
  rank: 8,
  maxNewTokens: 24,
  matcher: {
    poolPerTask: 4,
    trainQueriesPerTask: 8,
    validationQueriesPerTask: 4,
    testQueriesPerTask: 6,
    warmStartEpochs: 10,
    steps: 6,
    samplesPerQuery: 4,
    queriesPerStep: 4,
    validationEvery: 3,
    k: 2,
  },
};

/** The full demo: under 10 minutes on 2 cores. */
export const fullSettings: DemoSettings = {
  tasks: 6,
  trainPerTask: 48,
  testPerTask: 10,
  epochs: 3,
  batchSize: 8,
  learningRate: 3e-3,
  replayPerTask: 12,
  rank: 8,
  maxNewTokens: 24,
  matcher: {
    poolPerTask: 6,
    trainQueriesPerTask: 20,
    validationQueriesPerTask: 8,
    testQueriesPerTask: 10,
    warmStartEpochs: 15,
    steps: 30,
    samplesPerQuery: 4,
    queriesPerStep: 8,
    validationEvery: 10,
    k: 3,
  },
};

export type DemoOptions = {
  quick?: boolean;
  /** Report folder (default pillow-report). */
  out: string;
  /** Also write the summary here. */
  json?: string;
  /** Model folder (default: the suite's tiny model). */
  model?: string;
  strategies?: ReplayStrategy[];
  /** Task names to use instead of the first `settings.tasks` of the curriculum. */
  taskNames?: string[];
  seed?: number;
  progress: ProgressMode;
  log: (line: string) => void;
  /** Throws when the user pressed Ctrl-C (checked between steps). */
  checkInterrupted?: () => void;
  settings?: Partial<DemoSettings>;
};

const LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const;

const finiteOr = (value: number, fallback: number) => (Number.isFinite(value) ? value : fallback);
const mean = (values: number[]) =>
  values.length === 0 ? 0 : values.reduce((sum, value) => sum + value, 0) / values.length;

export function resolveModelDirectory(explicit?: string): string {
  const directory = explicit ?? tinyModelDir;
  if (!fs.existsSync(path.join(directory, "config.json"))) {
    throw inputError(
      `no model in ${directory} (config.json missing)`,
      explicit
        ? "pass a Hugging Face model folder with --model"
        : "run `pillow pretrain --out DIR` and pass --model DIR",
    );
  }
  const hasWeights =
    fs.existsSync(path.join(directory, "model.safetensors")) ||
    fs.existsSync(path.join(directory, "model.safetensors.index.json"));
  if (!hasWeights) {
    throw inputError(
      `no weights in ${directory} (model.safetensors missing)`,
      "run `pillow pretrain --out DIR` and pass --model DIR",
    );
  }
  return directory;
}

/** Steps train() will take for n examples (as core computes them). */
const stepsFor = (examples: number, settings: DemoSettings) =>
  Math.ceil(examples / settings.batchSize) * settings.epochs;

function pickTasks(all: SuiteTask[], settings: DemoSettings, names?: string[]): SuiteTask[] {
  if (!names || names.length === 0) return all.slice(0, settings.tasks);
  return names.map((name) => {
    const found = all.find((task) => task.name === name);
    if (!found) throw inputError(`unknown task "${name}"`, `choose from ${all.map((task) => task.name).join(", ")}`);
    return found;
  });
}

async function runStrategy(
  model: Model,
  strategy: ReplayStrategy,
  tasks: SuiteTask[],
  settings: DemoSettings,
  options: DemoOptions,
): Promise<StrategySummary> {
  const started = performance.now();
  const adapter = `cl-${strategy}`;
  if (model.adapterNames().includes(adapter)) model.removeAdapter(adapter);
  // Same initial adapter for every strategy: only the replay differs.
  model.addAdapter(adapter, {
    r: settings.rank,
    alpha: 2 * settings.rank,
    targetModules: [...LORA_TARGETS],
    seed: options.seed ?? 0,
  });
  const total = tasks.reduce((sum, task, stage) => {
    const replay = strategy === "none" ? 0 : settings.replayPerTask * stage;
    return sum + stepsFor(task.train.length + replay, settings) + (stage + 1) * settings.testPerTask;
  }, 0);
  const progress = createProgress(`continual ${strategy}`, total, options.progress);
  let lastLoss = Number.NaN;
  const learner = createLoraLearner(model, {
    adapter,
    epochs: settings.epochs,
    batchSize: settings.batchSize,
    learningRate: settings.learningRate,
    maxNewTokens: settings.maxNewTokens,
    seed: options.seed ?? 0,
    onStep: (loss) => {
      lastLoss = loss;
      progress.tick(1, `loss ${loss.toFixed(3)}`);
    },
    onEvaluated: (count) => progress.tick(count, `loss ${lastLoss.toFixed(3)} · evaluating`),
    checkInterrupted: options.checkInterrupted,
  });
  try {
    const result = await runContinual<Instance>({
      learner,
      tasks: tasks.map((task) => ({ name: task.name, train: task.train, test: task.test })),
      strategy,
      replayPerTask: settings.replayPerTask,
      seed: options.seed ?? 0,
      onStage: (report) => {
        options.checkInterrupted?.();
        const ap = mean(report.scores);
        if (options.progress !== "bar")
          options.log(
            `  ${strategy} stage ${report.stage + 1}/${tasks.length} ${report.task}: AP ${ap.toFixed(1)} (${report.trainingSize} examples)`,
          );
      },
    });
    const metrics = continualMetrics(result.scores);
    const earlier = metrics.forgetting.slice(0, -1);
    return {
      scores: result.scores.map((row, stage) => row.slice(0, stage + 1)),
      ap: metrics.ap,
      // Stage 0 has no earlier task; a stage whose earlier tasks all scored 0 has no ratio either (0 here).
      relativeGain: metrics.relativeGain.slice(1).map((value) => finiteOr(value, 0)),
      bwt: finiteOr(metrics.bwt, 0),
      forgetting: mean(earlier),
      losses: learner.stageLosses,
      replayed: result.plans.map((plan) => plan.budget),
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    progress.stop();
  }
}

/**
 * Each strategy's final RG minus random's, paired over the earlier tasks, with a bootstrap 95 %
 * interval (written into the summaries); returns the line on the best strategy, or undefined
 * without random or with under two tasks.
 */
function compareToRandom(continual: Record<string, StrategySummary>): string | undefined {
  const random = continual.random;
  if (!random || random.scores.length < 2) return undefined;
  const last = random.scores.length - 1;
  const ratios = (result: StrategySummary) =>
    result.scores[last]
      .slice(0, last)
      .map((score, j) => (result.scores[j][j] > 0 ? (score / result.scores[j][j]) * 100 : Number.NaN));
  const reference = ratios(random);
  let best: { name: string; interval: PairedInterval } | undefined;
  for (const [name, result] of Object.entries(continual)) {
    if (name === "random") continue;
    const differences = ratios(result)
      .map((ratio, j) => ratio - reference[j])
      .filter(Number.isFinite);
    if (differences.length === 0) continue;
    const interval: PairedInterval = { ...bootstrapInterval(differences, { seed: 0 }), pairs: differences.length };
    result.versusRandom = interval;
    if (!best || interval.mean > best.interval.mean) best = { name, interval };
  }
  if (!best) return undefined;
  const { mean: gain, low, high, pairs } = best.interval;
  return `best replay against random: ${best.name}, RG ${gain >= 0 ? "+" : ""}${gain.toFixed(1)} [95 % CI ${low.toFixed(1)}, ${high.toFixed(1)}] over ${pairs} earlier tasks (one order, one seed; \`pillow continual compare\` runs the paper's protocol)`;
}

type MatchingResult = { matching: DemoSummary["matching"]; matcher: DemoSummary["matcher"] };

/**
 * The matching comparison of `pillow match compare` on the demo's tasks, one seed, PILLOW with its
 * default levers. Per task: the pool is the first poolPerTask continual-training instances; the
 * training and validation queries are the instances after the continual training data (never
 * tuned on, like the test queries: tuning on them made "no demonstrations" look best there);
 * test queries come from the held-out split (every instruction kind).
 */
async function runMatching(
  model: Model,
  adapter: string,
  suite: Suite,
  tasks: SuiteTask[],
  settings: DemoSettings,
  options: DemoOptions,
  out: string,
): Promise<MatchingResult> {
  const sizes = settings.matcher;
  const seed = options.seed ?? 0;
  const tuned = settings.trainPerTask;
  const needed = tuned + sizes.trainQueriesPerTask + sizes.validationQueriesPerTask;
  for (const task of tasks) {
    if (task.train.length < needed || sizes.poolPerTask > tuned) {
      throw inputError(
        `task ${task.name} has ${task.train.length} training instances; matching needs ${needed} and a pool within the first ${tuned}`,
        "lower the matcher's sizes",
      );
    }
  }
  const slice = (from: number, count: number) => tasks.flatMap((task) => task.train.slice(from, from + count));
  const pool = new PromptPool(
    slice(0, sizes.poolPerTask).map((instance, index) => ({ ...instance, id: `${instance.task}-${index}` })),
  );
  const train = slice(tuned, sizes.trainQueriesPerTask).map(toQuery);
  const validation = slice(tuned + sizes.trainQueriesPerTask, sizes.validationQueriesPerTask).map(toQuery);
  const test = tasks.flatMap((task) => task.test.slice(0, sizes.testQueriesPerTask)).map(toQuery);
  const embedder = createEmbedder({
    kind: "tfidf",
    corpus: tasks.flatMap((task) => task.train.slice(0, tuned)).map((instance) => entryText(instance)),
  });
  await pool.embed(embedder);
  const backend = new NativeBackend(model, { adapter });
  const pillow = {
    ...defaultPillowSettings,
    steps: sizes.steps,
    samplesPerQuery: sizes.samplesPerQuery,
    queriesPerStep: sizes.queriesPerStep,
    validationEvery: sizes.validationEvery,
    warmStartEpochs: sizes.warmStartEpochs,
  };
  const progress = createProgress("PILLOW matcher", sizes.steps, options.progress);
  const rewards: number[] = [];
  try {
    const setup: MatchingSetup = {
      backend,
      pool,
      embedder,
      train,
      validation,
      test,
      ...suiteSetupParts(suite, pool, test, settings.maxNewTokens),
      adapter,
      description: `demo tasks: pool ${pool.size}, ${train.length} training, ${validation.length} validation, ${test.length} test queries`,
    };
    const comparison = await compareOnSetup(setup, pillow, {
      k: sizes.k,
      seeds: [seed],
      onStep: (record) => {
        rewards.push(record.meanReward);
        progress.tick(1, `reward ${record.meanReward.toFixed(3)}`);
        options.checkInterrupted?.();
      },
    });
    progress.stop();
    await saveMatcherBundle(
      path.join(out, "matcher"),
      { matcher: comparison.perSeed[0].matcher, pool, embedder },
      { adapter, template: "suite" },
    );
    const json = comparisonJson(comparison);
    const selectors = Object.fromEntries(
      Object.entries(json.selectors).map(([name, entry]) => [
        name,
        {
          mean: entry.mean,
          low: entry.interval.low,
          high: entry.interval.high,
          meanDemos: entry.meanDemos,
          byKind: Object.fromEntries(Object.entries(entry.byKind).map(([kind, value]) => [kind, value.mean])),
        },
      ]),
    ) as DemoSummary["matching"]["selectors"];
    const first = Object.values(json.selectors)[0];
    return {
      matching: {
        selectors,
        bestBaseline: comparison.bestBaseline as DemoSummary["matching"]["bestBaseline"],
        difference: {
          mean: json.pillowMinusBestBaseline.mean,
          low: json.pillowMinusBestBaseline.low,
          high: json.pillowMinusBestBaseline.high,
        },
        kinds: comparison.kinds,
        kindCounts: Object.fromEntries(Object.entries(first.byKind).map(([kind, value]) => [kind, value.count])),
        verdict: comparisonVerdict(comparison),
      },
      matcher: { rewards, queries: test.length, poolSize: pool.size, reward: pillow.reward },
    };
  } finally {
    progress.stop();
  }
}

export type DemoResult = { summary: DemoSummary; report: string };

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const started = performance.now();
  const settings: DemoSettings = { ...(options.quick ? quickSettings : fullSettings), ...options.settings };
  const strategies = options.strategies ?? (["none", "random", "inscl", "interference"] as ReplayStrategy[]);
  const out = path.resolve(options.out);
  fs.mkdirSync(out, { recursive: true });
  const modelDirectory = resolveModelDirectory(options.model);
  const phases: Record<string, number> = {};
  const phase = async <T>(name: string, body: () => Promise<T>): Promise<T> => {
    const phaseStarted = performance.now();
    try {
      return await body();
    } finally {
      phases[name] = (performance.now() - phaseStarted) / 1000;
    }
  };

  const model = await phase("load", () => loadModel(modelDirectory));
  // Beyond the continual training data, each task draws the matcher's training and validation
  // queries: instances the adapters never saw, as the test queries (see runMatching).
  const queriesPerTask = settings.matcher.trainQueriesPerTask + settings.matcher.validationQueriesPerTask;
  const suite = buildSuite({
    seed: options.seed ?? 0,
    trainPerTask: settings.trainPerTask + queriesPerTask,
    testPerTask: Math.max(settings.testPerTask, settings.matcher.testQueriesPerTask),
  });
  const allTasks = pickTasks(suite.tasks, settings, options.taskNames);
  const tasks = allTasks.map((task) => ({
    ...task,
    train: task.train.slice(0, settings.trainPerTask),
    test: task.test.slice(0, settings.testPerTask),
  }));
  options.log(
    `pillow demo${options.quick ? " --quick" : ""}: ${path.basename(modelDirectory)} · ${tasks.length} tasks (${tasks.map((task) => task.name).join(", ")}) · replay ${strategies.join(", ")}`,
  );

  const continual: Record<string, StrategySummary> = {};
  const partial = () => ({
    model: modelDirectory,
    tasks: tasks.map((task) => task.name),
    quick: options.quick === true,
    continual,
    phases,
  });
  for (const strategy of strategies) {
    continual[strategy] = await phase(`continual ${strategy}`, () =>
      runStrategy(model, strategy, tasks, settings, options),
    );
    model.saveAdapter(`cl-${strategy}`, path.join(out, "adapters", strategy));
    // Written after every strategy: an interrupted demo keeps what finished.
    writeFileAtomic(path.join(out, "results.json"), `${JSON.stringify(partial(), null, 2)}\n`);
    const result = continual[strategy];
    options.log(
      `  replay ${strategy}: final AP ${result.ap.at(-1)!.toFixed(1)}, BWT ${result.bwt.toFixed(1)}, ${result.seconds.toFixed(0)} s`,
    );
  }

  const continualFinding = compareToRandom(continual);
  if (continualFinding) options.log(`  ${continualFinding}`);

  const finalAdapter = strategies.includes("inscl") ? "cl-inscl" : `cl-${strategies.at(-1)}`;
  const { matching, matcher } = await phase("matching", () =>
    runMatching(model, finalAdapter, suite, allTasks, settings, options, out),
  );
  options.log(
    `  test ROUGE-L: ${Object.entries(matching.selectors)
      .map(([name, entry]) => `${name} ${entry.mean.toFixed(1)} [${entry.low.toFixed(1)}, ${entry.high.toFixed(1)}]`)
      .join(" · ")}`,
  );
  options.log(`  ${matching.verdict}`);

  const summary: DemoSummary = {
    ...partial(),
    ...(continualFinding ? { continualFinding } : {}),
    matching,
    matcher,
    seconds: (performance.now() - started) / 1000,
  };
  writeFileAtomic(path.join(out, "results.json"), `${JSON.stringify(summary, null, 2)}\n`);
  const written = await writeReport(summary, out);
  if (options.json) writeFileAtomic(path.resolve(options.json), `${JSON.stringify(summary, null, 2)}\n`);
  return { summary, report: written.index };
}
