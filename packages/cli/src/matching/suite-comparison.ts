// `pillow match compare --suite`: the built-in suite's matching experiment with the shipped tiny
// model. Disjoint sets from the suite's splits, per task: the first tunePerTask training instances
// are LoRA-tuning data only, the next poolPerTask form the prompt pool (tuned on as well: the pool is
// training data the user has), the next trainPerTask are the matcher's training queries and the next
// validationPerTask its validation queries; test queries come from the held-out split (every
// instruction kind: specific, vague, unseen). Training and validation queries are never tuned on, so
// they stand where test queries stand: answers the LoRA has not memorised (tuning on them made "no
// demonstrations" look best on every training query and misled the warm start and the checkpoint
// choice). Unless an adapter is given, the model is first LoRA-tuned (r 8, all linear modules) for
// tuneEpochs on the tuning and pool instances with seen phrasings — general instruction tuning as in
// PILLOW's setting; the pool and queries also carry the unseen wordings.
import { type GenerationBackend, loadModel, NativeBackend, train as trainModel } from "@pillow/core";
import { createEmbedder, entryText, PromptPool } from "@pillow/matcher";
import type { EvaluationQuery, TrainingExample } from "@pillow/rl";
import {
  buildSuite,
  formatDemonstration,
  formatPrompt,
  formatResponse,
  type Instance,
  instructionKindMap,
  promptStopStrings,
  tinyModelDir,
  tinyPromptBudget,
} from "@pillow/suite";
import type { MatchingSetup } from "./matching-setup.js";

export type SuiteSizes = {
  tunePerTask: number;
  poolPerTask: number;
  trainPerTask: number;
  validationPerTask: number;
  testPerTask: number;
  tuneEpochs: number;
};

export const defaultSuiteSizes: SuiteSizes = {
  tunePerTask: 30,
  poolPerTask: 8,
  trainPerTask: 30,
  validationPerTask: 10,
  testPerTask: 40,
  tuneEpochs: 1,
};

const LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

const bytes = (text: string) => Buffer.byteLength(text, "utf8");

export const toQuery = (
  instance: Pick<Instance, "instruction" | "input" | "output">,
): TrainingExample & EvaluationQuery => ({
  query: instance.instruction,
  input: instance.input || undefined,
  reference: instance.output,
});

/** The suite's template inside the tiny model's prompt budget. */
export const suiteTemplate = (
  demos: readonly { instruction: string; input?: string; output: string }[],
  query: string,
  input?: string,
) =>
  formatPrompt({
    instruction: query,
    input,
    demos: demos.map((demo) => ({ instruction: demo.instruction, input: demo.input ?? "", output: demo.output })),
    maxBytes: tinyPromptBudget,
  });

/**
 * Context budgets in UTF-8 bytes for the tiny model: entries that would overflow are masked. Every
 * selector shares the static budget of the longest test query; training masks per query.
 */
export function suiteBudgets(pool: PromptPool, test: readonly EvaluationQuery[]) {
  const costs = pool.costs((entry) =>
    bytes(formatDemonstration({ instruction: entry.instruction, input: entry.input ?? "", output: entry.output })),
  );
  const queryBytes = (example: { query: string; input?: string }) =>
    bytes(formatPrompt({ instruction: example.query, input: example.input }));
  return {
    budget: { limit: tinyPromptBudget, costs, used: Math.max(...test.map(queryBytes)) },
    trainingBudget: (example: TrainingExample) => ({ limit: tinyPromptBudget, costs, used: queryBytes(example) }),
  };
}

/**
 * What a matching setup takes from the suite, shared by `match compare --suite` and the demo: each
 * query's instruction kind, the suite's template and prompt budgets, greedy answers to the newline,
 * and the answer format the log-likelihood reward scores.
 */
export function suiteSetupParts(
  suite: Parameters<typeof instructionKindMap>[0],
  pool: PromptPool,
  test: readonly EvaluationQuery[],
  maxNewTokens: number,
) {
  const kinds = instructionKindMap(suite);
  return {
    kindOf: (query: EvaluationQuery) => kinds.get(query.query) ?? "other",
    template: suiteTemplate,
    ...suiteBudgets(pool, test),
    generation: { maxNewTokens, temperature: 0, stop: promptStopStrings },
    continuation: formatResponse,
  } satisfies Partial<MatchingSetup>;
}

export async function suiteMatchingSetup(
  sizes: SuiteSizes,
  options: { model?: string; adapter?: string; maxNewTokens?: number; log: (line: string) => void },
): Promise<MatchingSetup> {
  const { tunePerTask, poolPerTask, trainPerTask, validationPerTask, testPerTask } = sizes;
  const total = tunePerTask + poolPerTask + trainPerTask + validationPerTask;
  const suite = buildSuite({ seed: 0, trainPerTask: total, testPerTask });
  for (const task of suite.tasks) {
    if (task.train.length < total || task.test.length < testPerTask) {
      throw new Error(
        `suite task ${task.name} has ${task.train.length} training and ${task.test.length} test instances; fewer than asked for`,
      );
    }
  }
  const slice = (from: number, count: number) => suite.tasks.flatMap((task) => task.train.slice(from, from + count));
  const poolInstances = slice(tunePerTask, poolPerTask);
  const pool = new PromptPool(
    poolInstances.map((instance, index) => ({ ...instance, id: `${instance.task}-${index}` })),
  );
  const train = slice(tunePerTask + poolPerTask, trainPerTask).map(toQuery);
  const validation = slice(tunePerTask + poolPerTask + trainPerTask, validationPerTask).map(toQuery);
  const test = suite.tasks.flatMap((task) => task.test.slice(0, testPerTask)).map(toQuery);
  // What the LoRA is tuned on and the TF-IDF fitted on: the tuning and pool instances, never a query.
  const trainInstances = slice(0, tunePerTask + poolPerTask);
  const model = await loadModel(options.model ?? tinyModelDir);
  let adapter: string | null = null;
  if (options.adapter) {
    model.loadAdapter(options.adapter, "adapter");
    adapter = "adapter";
  } else if (sizes.tuneEpochs > 0) {
    const started = performance.now();
    model.addAdapter("suite-lora", { r: 8, alpha: 16, targetModules: LORA_TARGETS as never, seed: 0 });
    model.setActiveAdapter("suite-lora");
    const unseen = new Set(suite.tasks.flatMap((task) => task.unseenInstructions));
    const tuning = trainInstances.filter((instance) => !unseen.has(instance.instruction));
    // Answers end with a newline and no EOS, as the tiny model was pretrained (see formatResponse).
    const examples = tuning.map((instance) => ({
      prompt: formatPrompt({ ...instance, maxBytes: tinyPromptBudget }),
      response: formatResponse(instance.output),
    }));
    const result = await trainModel(model, examples, {
      epochs: sizes.tuneEpochs,
      lr: 1e-3,
      batchSize: 8,
      seed: 0,
      warmup: 5,
      appendEos: false,
    });
    options.log(
      `LoRA-tuned the tiny model on ${tuning.length} instances (seen phrasings): ${result.steps} steps, loss ${result.finalLoss.toFixed(3)}, ${((performance.now() - started) / 1000).toFixed(0)} s`,
    );
    adapter = "suite-lora";
  }
  const backend: GenerationBackend = new NativeBackend(model, { adapter });
  // TF-IDF fitted on the tuning and pool instances' texts.
  const embedder = createEmbedder({ kind: "tfidf", corpus: trainInstances.map((instance) => entryText(instance)) });
  await pool.embed(embedder);
  return {
    backend,
    pool,
    embedder,
    train,
    validation,
    test,
    ...suiteSetupParts(suite, pool, test, options.maxNewTokens ?? 32),
    adapter: adapter ?? undefined,
    description: `built-in suite: LoRA tuning ${tunePerTask}/task + pool ${pool.size} (${poolPerTask}/task), ${train.length} training, ${validation.length} validation, ${test.length} test queries; tiny model${adapter ? ` + ${adapter}` : ""}`,
  };
}
