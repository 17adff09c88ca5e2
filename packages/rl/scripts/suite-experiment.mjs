// The end-to-end PILLOW result: on the built-in suite, with the tiny model (optionally with a LoRA
// adapter), train the matching network on training queries and compare none / random / bm25 / knn /
// PILLOW (greedy) by ROUGE-L on held-out queries over several seeds.
//
//   pnpm build && node packages/rl/scripts/suite-experiment.mjs [--model DIR] [--adapter PEFT_DIR]
//     [--seeds 0,1,2] [--steps 60] [--pool-per-task 4] [--train-per-task 30] [--test-per-task 5]
//     [--embedder tfidf|llm] [--algorithm reinforce-loo|ppo] [--similarity-prior 20] [--hidden 32] [--allow-stop] [--lr 0.003] [--entropy 0.001] [--out results.json] [--save BUNDLE_DIR]
//     [--backend native|copy-last-demo] [--finetune-epochs 1] [--finetune-phrasings seen|all]
//     [--finetune-demos 0] [--finetune-same-task 0.5]
//
// `--finetune-epochs N` first LoRA-tunes the model (r 8, all linear modules) for N epochs on the
// training split (zero-shot prompts, loss on the answer), the "LoRA-tuned tiny model" of the issue.
// As in PILLOW's setting, the LoRA tuning is general instruction tuning: by default
// (`--finetune-phrasings seen`) it sees only the phrasings of the pretraining corpus, while the
// user's pool and queries also carry the suite's "unseen" phrasings (the user's own wordings).
//
// `--finetune-demos K` tunes on prompts that carry 0..K demonstrations from the pool (the count drawn
// uniformly), each from the query's own task with probability --finetune-same-task and from any other
// task otherwise: the model then sees at training time the prompt shape a selector gives it at
// inference, and learns to use demonstrations of its task and to look past those of other tasks.
//
// `--backend copy-last-demo` replaces the LLM by a stand-in that answers with the output of the last
// demonstration in its prompt: no model needed, and the reward then measures how often a selector
// puts a demonstration with the right answer last — a check of the training loop on real suite text.
//
// `--allow-stop` gives the matcher a STOP action: it may choose fewer than k demonstrations (none at all).
//
// Numbers go to stdout as a Markdown table and, with --out, as JSON.
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { loadModel, NativeBackend, train as trainModel } from "@pillow/core";
import { createEmbedder, entryText, PromptPool, saveMatcherBundle } from "@pillow/matcher";
import { buildSuite, createRandom, formatDemonstration, instructionKindMap, instructionKinds, formatPrompt, formatResponse, promptStopStrings, tinyModelDir, tinyPromptBudget } from "@pillow/suite";
import { compareSelectors } from "../dist/index.js";

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    adapter: { type: "string" },
    seeds: { type: "string", default: "0,1,2" },
    steps: { type: "string", default: "60" },
    "pool-per-task": { type: "string", default: "4" },
    "train-per-task": { type: "string", default: "30" },
    "test-per-task": { type: "string", default: "5" },
    "samples-per-query": { type: "string", default: "4" },
    "queries-per-step": { type: "string", default: "8" },
    embedder: { type: "string", default: "tfidf" },
    algorithm: { type: "string", default: "reinforce-loo" },
    lr: { type: "string", default: "0.003" },
    entropy: { type: "string", default: "0.001" },
    out: { type: "string" },
    backend: { type: "string", default: "native" },
    "similarity-prior": { type: "string", default: "20" },
    "finetune-epochs": { type: "string", default: "0" },
    "finetune-phrasings": { type: "string", default: "seen" },
    "finetune-demos": { type: "string", default: "0" },
    "finetune-same-task": { type: "string", default: "0.5" },
    hidden: { type: "string", default: "32" },
    "allow-stop": { type: "boolean", default: false },
    save: { type: "string" },
  },
});
const integer = (name) => {
  const value = Number(values[name]);
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a non-negative integer, got ${values[name]}`);
  return value;
};
const seeds = values.seeds.split(",").map(Number);
const poolPerTask = integer("pool-per-task");
const trainPerTask = integer("train-per-task");
const testPerTask = integer("test-per-task");
const bytes = (text) => Buffer.byteLength(text, "utf8");

const started = performance.now();
const suite = buildSuite({ seed: 0, trainPerTask: poolPerTask + trainPerTask, testPerTask });
const trainInstances = suite.tasks.flatMap((task) => task.train);
// Pool: the first poolPerTask training instances of every task; training queries: the rest.
const poolInstances = suite.tasks.flatMap((task) => task.train.slice(0, poolPerTask));
const queryInstances = suite.tasks.flatMap((task) => task.train.slice(poolPerTask));
const pool = await PromptPool.fromDataset(
  poolInstances.map((instance, index) => ({ ...instance, id: `${instance.task}-${index}` })),
);
const toExample = (instance) => ({ query: instance.instruction, input: instance.input, reference: instance.output });
const train = queryInstances.map(toExample);
const test = suite.tasks.flatMap((task) => task.test).map(toExample);

if (values.backend !== "native" && values.backend !== "copy-last-demo") {
  throw new Error(`--backend must be native or copy-last-demo, got ${values.backend}`);
}
const lastDemoOutput = (prompt) => {
  const parts = prompt.split("### Response:\n");
  return parts.length > 2 ? parts[parts.length - 2].split("\n")[0] : "";
};
async function nativeBackend() {
  const model = await loadModel(values.model ?? tinyModelDir);
  if (values.adapter) model.loadAdapter(values.adapter, "adapter");
  const epochs = integer("finetune-epochs");
  if (epochs > 0) {
    const tuneStarted = performance.now();
    model.addAdapter("suite-lora", {
      r: 8,
      alpha: 16,
      targetModules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
      seed: 0,
    });
    model.setActiveAdapter("suite-lora");
    // Answers end with a newline and no EOS, as the tiny model was pretrained (see formatResponse).
    if (!["seen", "all"].includes(values["finetune-phrasings"])) {
      throw new Error(`--finetune-phrasings must be seen or all, got ${values["finetune-phrasings"]}`);
    }
    const unseen = new Set(suite.tasks.flatMap((task) => task.unseenInstructions));
    const tuning = values["finetune-phrasings"] === "all" ? trainInstances : trainInstances.filter((instance) => !unseen.has(instance.instruction));
    const maxDemos = integer("finetune-demos");
    const sameTask = Number(values["finetune-same-task"]);
    if (!(sameTask >= 0 && sameTask <= 1)) throw new Error(`--finetune-same-task must be in [0, 1], got ${values["finetune-same-task"]}`);
    const random = createRandom("finetune-demos");
    const poolByTask = new Map(suite.tasks.map((task) => [task.name, poolInstances.filter((entry) => entry.task === task.name)]));
    const demosFor = (instance) => {
      const demos = [];
      for (let count = random.between(0, maxDemos); count > 0; count--) {
        const candidates = random.next() < sameTask ? poolByTask.get(instance.task) : poolInstances.filter((entry) => entry.task !== instance.task);
        const fresh = candidates.filter((entry) => entry !== instance && !demos.includes(entry));
        // A small pool can run out of entries of the query's own task: then the prompt has fewer demos.
        if (fresh.length > 0) demos.push(random.pick(fresh));
      }
      return demos;
    };
    const examples = tuning.map((instance) => ({
      prompt: formatPrompt({ ...instance, demos: maxDemos > 0 ? demosFor(instance) : [], maxBytes: tinyPromptBudget }),
      response: formatResponse(instance.output),
    }));
    const result = await trainModel(model, examples, { epochs, lr: 1e-3, batchSize: 8, seed: 0, warmup: 5, appendEos: false });
    console.error(`LoRA fine-tune on ${tuning.length} instances (${values["finetune-phrasings"]} phrasings, 0-${maxDemos} demos): ${result.steps} steps, final loss ${result.finalLoss.toFixed(3)}, ${((performance.now() - tuneStarted) / 1000).toFixed(0)} s`);
  }
  const adapter = epochs > 0 ? "suite-lora" : values.adapter ? "adapter" : null;
  return new NativeBackend(model, { adapter });
}
const backend =
  values.backend === "native"
    ? await nativeBackend()
    : {
        name: "copy-last-demo",
        generate: async (prompt) => ({ text: lastDemoOutput(prompt) }),
        generateBatch: async (prompts) => prompts.map((prompt) => ({ text: lastDemoOutput(prompt) })),
      };
const embedder =
  values.embedder === "llm"
    ? createEmbedder({ kind: "llm", backend })
    : createEmbedder({ kind: "tfidf", corpus: trainInstances.map((instance) => entryText(instance)) });
await pool.embed(embedder);

// The tiny model's context: the prompt (demos + query) must fit tinyPromptBudget bytes. Entries that
// would overflow are masked for every selector; formatPrompt drops any that still do not fit.
const demoBytes = pool.costs((entry) => bytes(formatDemonstration(entry)));
const queryBytes = (example) => bytes(formatPrompt({ instruction: example.query, input: example.input }));
const budgetFor = (example) => ({ limit: tinyPromptBudget, costs: demoBytes, used: queryBytes(example) });
const template = (demos, query, input) => formatPrompt({ instruction: query, input, demos, maxBytes: tinyPromptBudget });
const generation = { maxNewTokens: 32, temperature: 0, stop: promptStopStrings };

const result = await compareSelectors({
  backend,
  pool,
  embedder,
  train,
  test,
  k: 3,
  seeds,
  reward: "rougeL",
  template,
  generation,
  // Selectors share one static budget (the longest query); training masks per query.
  budget: { limit: tinyPromptBudget, costs: demoBytes, used: Math.max(...test.map(queryBytes)) },
  trainingBudget: budgetFor,
  matcher: { hidden: integer("hidden"), similarityPrior: Number(values["similarity-prior"]), allowStop: values["allow-stop"] },
  training: {
    algorithm: values.algorithm,
    steps: integer("steps"),
    samplesPerQuery: integer("samples-per-query"),
    queriesPerStep: integer("queries-per-step"),
    lr: Number(values.lr),
    entropy: Number(values.entropy),
    onStep: (record) => {
      if (record.step % 10 === 0) {
        console.error(
          `step ${record.step}: reward ${record.meanReward.toFixed(3)} entropy ${record.entropy.toFixed(3)} llm ${record.llmCalls} hits ${record.cacheHits} ${record.seconds.toFixed(1)} s`,
        );
      }
    },
  },
  onSeed: (seed, evaluations) =>
    console.error(`seed ${seed}: ${evaluations.map((e) => `${e.selector} ${(100 * e.meanReward).toFixed(1)}`).join(", ")}`),
});

const seconds = (performance.now() - started) / 1000;
console.log(`pool ${pool.size} (${poolPerTask}/task), ${train.length} training queries, ${test.length} held-out queries, seeds ${seeds.join(",")}`);
console.log(
  `backend ${backend.name}${values.adapter ? ` + adapter ${values.adapter}` : ""}, embedder ${embedder.name}, ${values.algorithm}, ${values.steps} steps, similarity prior ${values["similarity-prior"]}${values["allow-stop"] ? ", STOP allowed" : ""}`,
);
console.log("\n| selector | ROUGE-L ×100 (mean ± sd over seeds) | per seed |\n| --- | --- | --- |");
for (const row of result.summary) {
  console.log(`| ${row.selector} | ${(100 * row.mean).toFixed(1)} ± ${(100 * row.standardDeviation).toFixed(1)} | ${row.perSeed.map((v) => (100 * v).toFixed(1)).join(" / ")} |`);
}
// The held-out queries by instruction kind: specific, vague (shared by a task family) or unseen.
const kindOf = instructionKindMap(suite);
const kinds = instructionKinds;
const byKind = {};
console.log(`\n| selector | ${kinds.map((kind) => `${kind} (${test.filter((example) => kindOf.get(example.query) === kind).length})`).join(" | ")} |\n| --- |${kinds.map(() => " --- |").join("")}`);
for (const selector of result.summary.map((row) => row.selector)) {
  byKind[selector] = {};
  for (const kind of kinds) {
    const values = [];
    for (const run of result.perSeed) {
      const evaluation = run.evaluations.find((e) => e.selector === selector);
      evaluation.rewards.forEach((reward, i) => {
        if (kindOf.get(test[i].query) === kind) values.push(reward);
      });
    }
    byKind[selector][kind] = values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length);
  }
  console.log(`| ${selector} | ${kinds.map((kind) => (100 * byKind[selector][kind]).toFixed(1)).join(" | ")} |`);
}
console.log(
  `\nmatcher training ${result.trainingSeconds.toFixed(0)} s total; LLM calls ${result.llmCalls}, answered from cache ${result.cacheHits} (${((100 * result.cacheHits) / (result.cacheHits + result.llmCalls)).toFixed(0)} %); wall ${seconds.toFixed(0)} s`,
);
if (values.save) {
  // The first seed's matcher, with its pool and embedder, for `--matcher DIR` elsewhere.
  await saveMatcherBundle(values.save, { matcher: result.perSeed[0].matcher, pool, embedder });
  console.log(`saved the seed-${result.perSeed[0].seed} matcher bundle to ${values.save}`);
}
if (values.out) {
  const json = {
    summary: result.summary,
    byInstructionKind: byKind,
    perSeed: result.perSeed.map((run) => ({ seed: run.seed, evaluations: run.evaluations.map(({ rewards, ...rest }) => rest), rewardPerStep: run.training.steps.map((s) => s.meanReward) })),
    llmCalls: result.llmCalls,
    cacheHits: result.cacheHits,
    trainingSeconds: result.trainingSeconds,
    wallSeconds: seconds,
  };
  await writeFile(values.out, `${JSON.stringify(json, null, 2)}\n`);
}
