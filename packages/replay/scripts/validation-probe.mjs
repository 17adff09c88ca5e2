// Small probes for choosing the interference strategy's settings on VALIDATION data only: the suite
// is built with 60 training instances per task, the first 40 train (as in the compare) and the last
// 20 are the validation set the probes score; the test split is never read.
//
//   node packages/replay/scripts/validation-probe.mjs --seed 0 --order reverse \
//     --variants "random;interference;interference:floor=0.5;interference:cap=0.5"
//
// Settings as `pillow continual compare --suite`: LoRA r 8 on q/k/v/o, lr 2e-3, batch 8, 1 epoch,
// replay 10 per earlier task, 3 look-ahead steps, 6 probes per task; R[j][j] and the last row only.
import { appendFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadModel, setThreads } from "@pillow/core";
import { buildSuite, formatPrompt, formatResponse, promptStopStrings, rougeL, tinyModelDir } from "@pillow/suite";
import { createLoraLearner, resolveOrders, runContinual } from "../dist/index.js";

const { values } = parseArgs({
  options: {
    seed: { type: "string", default: "0" },
    order: { type: "string", default: "curriculum" },
    variants: { type: "string", default: "random;interference" },
    tasks: { type: "string", default: "16" },
    dump: { type: "string" },
    // Several probes side by side on a small machine: one thread each.
    threads: { type: "string" },
  },
});
if (values.threads) setThreads(Number(values.threads));
const seed = Number(values.seed);
const suite = buildSuite({ seed, trainPerTask: 60, testPerTask: 20 });
const allTasks = suite.tasks.slice(0, Number(values.tasks)).map((task) => ({
  name: task.name,
  train: task.train.slice(0, 40),
  test: task.train.slice(40, 60), // validation: training-pool instances the run never trains on
}));
// "random-N" names the N-th seeded permutation, as the compare names it.
const randomIndex = /^random-(\d+)$/.exec(values.order)?.[1];
const order = resolveOrders(
  [randomIndex ? `random:${randomIndex}` : values.order],
  allTasks.map((task) => task.name),
).at(-1);
const byName = new Map(allTasks.map((task) => [task.name, task]));
const tasks = order.tasks.map((name) => byName.get(name));
const model = await loadModel(tinyModelDir);

for (const variant of values.variants.split(";")) {
  const [strategy, ...settings] = variant.split(":");
  const parsed = Object.fromEntries(
    settings
      .join(":")
      .split(",")
      .filter(Boolean)
      .map((entry) => entry.split("=")),
  );
  const adapter = `probe-${variant}`;
  model.addAdapter(adapter, { r: 8, alpha: 16, targetModules: ["q_proj", "k_proj", "v_proj", "o_proj"], seed });
  const learner = createLoraLearner(model, {
    adapter,
    formatPrompt: (instance) => formatPrompt({ instruction: instance.instruction, input: instance.input }),
    formatResponse: (instance) => formatResponse(instance.output),
    train: { appendEos: false, epochs: 1, batchSize: 8, lr: 2e-3, warmup: 0, seed },
    generate: { maxNewTokens: 32, temperature: 0, stop: promptStopStrings },
    score: (prediction, reference) => rougeL(prediction, reference) * 100,
    lookAheadSteps: Number(parsed.steps ?? 3),
  });
  const started = performance.now();
  let lookAhead = 0;
  const result = await runContinual({
    learner,
    tasks,
    strategy,
    seed,
    replayPerTask: 10,
    probePerTask: Number(parsed.probes ?? 6),
    floorShare: Number(parsed.floor ?? 0.25),
    capShare: parsed.cap === undefined ? undefined : Number(parsed.cap),
    // directed=none: no limit; absent: the package's default.
    directedShare:
      parsed.directed === undefined ? undefined : parsed.directed === "none" ? null : Number(parsed.directed),
    // shared=replay|skip: earlier instances whose instruction the current task uses; absent: the default.
    sharedInstructions: parsed.shared,
    // stage=shuffled|current-first: the order of a stage's training set; absent: the default.
    stageOrder: parsed.stage,
    evaluation: "diagonal-and-final",
    onStage: (report) => {
      lookAhead += report.seconds.lookAhead;
    },
  });
  model.removeAdapter(adapter);
  // --dump FILE: one JSON line per variant with R, the plans and the look-aheads (for analysis).
  if (values.dump)
    appendFileSync(
      values.dump,
      `${JSON.stringify({ variant, order: order.name, seed, tasks: tasks.map((task) => task.name), scores: result.scores, plans: result.plans, lookAheads: result.lookAheads })}\n`,
    );
  const last = tasks.length - 1;
  const diagonal = result.scores.map((row, i) => row[i]);
  const meanDiagonal = diagonal.reduce((sum, value) => sum + value, 0) / diagonal.length;
  console.log(
    JSON.stringify({
      variant,
      order: order.name,
      seed,
      ap: +result.metrics.ap[last].toFixed(2),
      rg: +result.metrics.relativeGain[last].toFixed(2),
      bwt: +result.metrics.bwt.toFixed(2),
      diagonal: +meanDiagonal.toFixed(2),
      seconds: +((performance.now() - started) / 1000).toFixed(1),
      lookAhead: +lookAhead.toFixed(1),
    }),
  );
}
