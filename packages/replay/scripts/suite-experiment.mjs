// The end-to-end InsCL result: on the built-in suite (tasks in InsCL's curriculum order), LoRA-train
// one adapter task after task with each replay strategy and report R[i][j], AP, Relative Gain, BWT
// and forgetting, plus one SVG heat-map per strategy.
//
//   pnpm build && node packages/replay/scripts/suite-experiment.mjs [--model DIR] [--random-model]
//     [--strategies none,random,uniform,inscl-dynamic,inscl] [--tasks 16] [--train-per-task 40]
//     [--test-per-task 8] [--replay-per-task 10] [--epochs 2] [--lr 0.002] [--batch-size 8]
//     [--rank 8] [--seed 0] [--embedder hashing|model] [--instruction-kinds specific,vague,unseen] [--out DIR]
//
// --model defaults to the suite's tiny model (packages/suite/model); --random-model writes a small
// random-weight model instead (a smoke run of the pipeline: its scores mean nothing).
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { createTinyModel, loadModel, NativeBackend } from "@pillow/core";
import {
  buildSuite,
  formatPrompt,
  formatResponse,
  instructionKindMap,
  instructionKinds,
  tinyModelDir,
} from "@pillow/suite";
import {
  backendEmbedder,
  createHashingEmbedder,
  createLoraLearner,
  replayStrategies,
  runContinual,
  scoreHeatmapSvg,
} from "../dist/index.js";

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    "random-model": { type: "boolean", default: false },
    strategies: { type: "string", default: replayStrategies.join(",") },
    tasks: { type: "string", default: "16" },
    "train-per-task": { type: "string", default: "40" },
    "test-per-task": { type: "string", default: "8" },
    "replay-per-task": { type: "string", default: "10" },
    epochs: { type: "string", default: "2" },
    lr: { type: "string", default: "0.002" },
    "batch-size": { type: "string", default: "8" },
    rank: { type: "string", default: "8" },
    seed: { type: "string", default: "0" },
    embedder: { type: "string", default: "hashing" },
    "instruction-kinds": { type: "string", default: instructionKinds.join(",") },
    out: { type: "string" },
  },
});

function integer(name) {
  const value = Number(values[name]);
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be an integer ≥ 0, got ${values[name]}`);
  return value;
}

const strategies = values.strategies.split(",").map((name) => name.trim());
for (const strategy of strategies) {
  if (!replayStrategies.includes(strategy))
    throw new Error(`--strategies: unknown strategy "${strategy}"; known: ${replayStrategies.join(", ")}`);
}
let modelDir = values.model ?? tinyModelDir;
if (values["random-model"]) {
  modelDir = mkdtempSync(path.join(tmpdir(), "pillow-replay-random-model-"));
  createTinyModel(modelDir, { hiddenSize: 64, numLayers: 2, numHeads: 4, seed: 1 });
}
const seed = integer("seed");
const suite = buildSuite({ seed, trainPerTask: integer("train-per-task"), testPerTask: integer("test-per-task") });
// --instruction-kinds keeps only the instances whose instruction is of the named kinds (train and test).
const keptKinds = values["instruction-kinds"].split(",").map((kind) => kind.trim());
for (const kind of keptKinds) {
  if (!instructionKinds.includes(kind))
    throw new Error(`--instruction-kinds: unknown kind "${kind}"; known: ${instructionKinds.join(", ")}`);
}
const kindOf = instructionKindMap(suite);
const keep = (instance) => keptKinds.includes(kindOf.get(instance.instruction));
const tasks = suite.tasks
  .slice(0, integer("tasks"))
  .map((task) => ({ name: task.name, train: task.train.filter(keep), test: task.test.filter(keep) }));
const results = {};
const outDir = values.out;
if (outDir) mkdirSync(outDir, { recursive: true });

for (const strategy of strategies) {
  // A fresh model and adapter per strategy: every run starts from the same base weights.
  const model = await loadModel(modelDir);
  const learner = createLoraLearner(model, {
    adapter: {
      r: integer("rank"),
      alpha: 2 * integer("rank"),
      targetModules: ["q_proj", "k_proj", "v_proj", "o_proj"],
      seed,
    },
    // Answers end with a newline and no EOS, as the tiny model was pretrained (see formatResponse).
    train: {
      epochs: integer("epochs"),
      lr: Number(values.lr),
      batchSize: integer("batch-size"),
      seed,
      appendEos: false,
    },
    formatPrompt: (instance) => formatPrompt(instance),
    formatResponse: (instance) => formatResponse(instance.output),
    generate: { maxNewTokens: 32 },
  });
  // "model": mean-pooled hidden states of the frozen base model (no adapter), as InsCL embeds
  // instructions with a fixed encoder; the learner re-activates its adapter before every stage.
  const embedder = values.embedder === "model" ? backendEmbedder(new NativeBackend(model)) : createHashingEmbedder();
  const started = Date.now();
  const result = await runContinual({
    learner,
    tasks,
    strategy,
    replayPerTask: integer("replay-per-task"),
    embedder,
    seed,
    onStage: (report) =>
      console.error(
        `[${strategy}] stage ${report.stage} ${report.task}: ${report.trainingSize} examples, R = ${report.scores.map((x) => x.toFixed(1)).join(" ")}`,
      ),
  });
  results[strategy] = { ...result, seconds: (Date.now() - started) / 1000 };
  if (outDir) {
    writeFileSync(
      path.join(outDir, `heatmap-${strategy}.svg`),
      scoreHeatmapSvg(result.scores, {
        labels: tasks.map((task) => task.name),
        title: `ROUGE-L after each stage: ${strategy}`,
      }),
    );
  }
}

const last = tasks.length - 1;
console.log(`| strategy | AP (final) | RG (final) | BWT | mean forgetting | time |`);
console.log(`| --- | --- | --- | --- | --- | --- |`);
for (const [strategy, result] of Object.entries(results)) {
  const { ap, relativeGain, bwt, forgetting } = result.metrics;
  const meanForgetting = forgetting.slice(0, last).reduce((sum, value) => sum + value, 0) / Math.max(1, last);
  console.log(
    `| ${strategy} | ${ap[last].toFixed(2)} | ${relativeGain[last].toFixed(2)} | ${bwt.toFixed(2)} | ${meanForgetting.toFixed(2)} | ${result.seconds.toFixed(0)} s |`,
  );
}
if (outDir) {
  writeFileSync(
    path.join(outDir, "results.json"),
    JSON.stringify({ modelDir, tasks: tasks.map((task) => task.name), options: values, results }, null, 2),
  );
  console.log(`\nwrote ${outDir}/results.json and one heat-map per strategy`);
}
