// What `pillow match compare` compares on: a backend, an embedded pool, training / validation / test
// queries and how prompts are built — from the user's files or from the built-in suite
// (suite-comparison.ts). Files are checked before any model work: every record well-formed, no file
// empty, the pool at least k entries, and the four sets disjoint by (instruction, input), with the
// file and line of the first offending record.
import fs from "node:fs";
import type { GenerateOptions, GenerationBackend } from "@pillow/core";
import { readInstructionFile } from "@pillow/core";
import {
  type ContextBudget,
  createEmbedder,
  type Embedder,
  type PromptPool,
  PromptPool as Pool,
} from "@pillow/matcher";
import {
  type CompareOptions,
  type ComparisonResult,
  compareSelectors,
  type EvaluationQuery,
  type PromptTemplate,
  type TrainingExample,
  type TrainMatcherOptions,
} from "@pillow/rl";
import { formatPrompt, formatResponse, promptStopStrings } from "@pillow/suite";
import { inputError } from "../cli-error.js";
import { compareOptionsFor, type PillowSettings } from "./pillow-settings.js";

export type MatchingSetup = {
  backend: GenerationBackend;
  pool: PromptPool;
  embedder: Embedder;
  train: TrainingExample[];
  validation?: EvaluationQuery[];
  test: EvaluationQuery[];
  kindOf?: (query: EvaluationQuery) => string;
  template: PromptTemplate;
  budget?: ContextBudget;
  trainingBudget?: TrainMatcherOptions["budget"];
  generation: GenerateOptions;
  continuation: (reference: string) => string;
  adapter?: string;
  description: string;
};

export type LocatedQuery = EvaluationQuery & { file: string; line: number };

/** Alpaca records of one file as queries, each with its file and line. */
export function readQueryFile(file: string, role: string): LocatedQuery[] {
  let examples: ReturnType<typeof readInstructionFile>;
  if (fs.existsSync(file) && fs.readFileSync(file, "utf8").trim() === "") {
    throw inputError(
      `${file}: the ${role} file has no records`,
      "give one JSON record {instruction, input?, output} a line",
    );
  }
  try {
    examples = readInstructionFile(file);
  } catch (error) {
    throw inputError(`${role} file: ${(error as Error).message}`);
  }
  if (examples.length === 0)
    throw inputError(
      `${file}: the ${role} file has no records`,
      "give one JSON record {instruction, input?, output} a line",
    );
  return examples.map((example) => {
    if (example.format !== "alpaca")
      throw inputError(`${example.file}:${example.line}: ${role} queries need instruction/input/output records`);
    return {
      query: example.instruction,
      input: example.input || undefined,
      reference: example.output,
      file: example.file,
      line: example.line,
    };
  });
}

const identity = (entry: { instruction?: string; query?: string; input?: string }) =>
  JSON.stringify([entry.instruction ?? entry.query, entry.input ?? ""]);

/** Throws at the first record of `later` that repeats one of `earlier` (same instruction and input). */
export function checkDisjoint(
  earlier: { name: string; items: { key: string; where: string }[] },
  later: { name: string; items: { key: string; where: string }[] },
): void {
  const seen = new Map(earlier.items.map((item) => [item.key, item.where]));
  for (const item of later.items) {
    const first = seen.get(item.key);
    if (first !== undefined) {
      throw inputError(
        `${item.where}: this ${later.name} record has the same instruction and input as ${earlier.name} ${first}`,
        `the pool, training, validation and test sets must not overlap; remove it from one of them`,
      );
    }
  }
}

export async function fileMatchingSetup(options: {
  pool: string;
  train: string;
  validation?: string;
  test: string;
  k: number;
  /** Opened only after every file has been checked. */
  openBackend: () => Promise<GenerationBackend>;
  adapter?: string;
  maxNewTokens: number;
}): Promise<MatchingSetup> {
  let pool: PromptPool;
  try {
    pool = await Pool.fromJsonl(options.pool);
  } catch (error) {
    throw inputError((error as Error).message, "the pool is JSONL: one {id?, instruction, input?, output} a line");
  }
  if (pool.size < options.k) {
    throw inputError(
      `${options.pool}: the pool has ${pool.size} entries, fewer than k = ${options.k} demonstrations per query`,
      "add entries or lower --k",
    );
  }
  const train = readQueryFile(options.train, "training");
  const validation = options.validation ? readQueryFile(options.validation, "validation") : undefined;
  const test = readQueryFile(options.test, "test");
  const located = (queries: LocatedQuery[]) =>
    queries.map((query) => ({ key: identity(query), where: `${query.file}:${query.line}` }));
  const sets = [
    {
      name: "pool entry",
      items: pool.entries.map((entry) => ({ key: identity(entry), where: `${options.pool} (id "${entry.id}")` })),
    },
    { name: "training", items: located(train) },
    ...(validation ? [{ name: "validation", items: located(validation) }] : []),
    { name: "test", items: located(test) },
  ];
  for (let later = 1; later < sets.length; later++)
    for (let earlier = 0; earlier < later; earlier++) checkDisjoint(sets[earlier], sets[later]);
  const backend = await options.openBackend();
  const embedder = createEmbedder({
    kind: "tfidf",
    corpus: [...pool.texts(), ...train.map((query) => (query.input ? `${query.query}\n${query.input}` : query.query))],
  });
  await pool.embed(embedder);
  const strip = ({ file: _file, line: _line, ...query }: LocatedQuery) => query;
  return {
    backend,
    pool,
    embedder,
    train: train.map(strip),
    validation: validation?.map(strip),
    test: test.map(strip),
    template: (demos, query, input) =>
      formatPrompt({
        instruction: query,
        input,
        demos: demos.map((demo) => ({ instruction: demo.instruction, input: demo.input ?? "", output: demo.output })),
      }),
    generation: { maxNewTokens: options.maxNewTokens, temperature: 0, stop: promptStopStrings },
    continuation: formatResponse,
    adapter: options.adapter,
    description: `pool ${options.pool} (${pool.size}), ${train.length} training, ${validation?.length ?? 0} validation, ${test.length} test queries; backend ${backend.name}`,
  };
}

/** compareSelectors on a setup with PILLOW's settings: what `match compare` and the demo run. */
export function compareOnSetup(
  setup: MatchingSetup,
  settings: PillowSettings,
  options: Pick<CompareOptions, "k" | "seeds" | "onPhase" | "onSeed"> & {
    onStep?: NonNullable<CompareOptions["training"]>["onStep"];
  },
): Promise<ComparisonResult> {
  const levers = compareOptionsFor(settings, (setup.validation?.length ?? 0) > 0);
  return compareSelectors({
    backend: setup.backend,
    pool: setup.pool,
    embedder: setup.embedder,
    train: setup.train,
    validation: setup.validation,
    test: setup.test,
    template: setup.template,
    generation: setup.generation,
    continuation: setup.continuation,
    budget: setup.budget,
    trainingBudget: setup.trainingBudget,
    kindOf: setup.kindOf,
    k: options.k,
    seeds: options.seeds,
    onPhase: options.onPhase,
    onSeed: options.onSeed,
    ...levers,
    training: { ...levers.training, onStep: options.onStep },
  });
}
