// compareSelectors: the experiment behind `pillow match compare`, the demo's matching section and the
// README tables. Per seed it trains a fresh matching network — optional imitation warm start towards
// a teacher, then policy-gradient RL, keeping the checkpoint that scores best on the validation
// queries — and scores none / random / bm25 / knn / PILLOW (greedy) on the same test queries with the
// same backend, template, generation settings and evaluation reward (ROUGE-L of the greedy answer).
//
// Statistics: per selector, the mean over seeds and a bootstrap 95 % interval over test queries (of
// each query's reward averaged over seeds); the best fixed selector is the baseline with the highest
// test mean (the hardest comparison for PILLOW), and PILLOW − best carries a paired bootstrap
// interval over the same queries. With `kindOf`, everything is also split by query kind.
//
// Settings that need choosing are chosen on validation only: the "best-baseline" teacher is the
// baseline with the best validation score, and RL checkpoints are kept by validation score.
// One rollout cache is shared, so selectors that agree across seeds cost no extra LLM calls.

import {
  type BootstrapOptions,
  bootstrapInterval,
  type GenerateOptions,
  type GenerationBackend,
  type Interval,
  pairedBootstrap,
} from "@pillow/core";
import {
  bm25Selector,
  type ContextBudget,
  type Embedder,
  knnSelector,
  MatchingNetwork,
  type MatchingNetworkOptions,
  matcherSelector,
  noneSelector,
  normalizedInstruction,
  type PromptPool,
  prefixSelector,
  randomSelector,
  type Selector,
} from "@pillow/matcher";
import { RlError } from "./errors.js";
import { type EvaluationQuery, evaluateSelectors, type SelectorEvaluation } from "./evaluate.js";
import { defaultGeneration, type PromptTemplate, RolloutCache, type RolloutReward } from "./rollout.js";
import { type TrainingExample, type TrainingHistory, type TrainMatcherOptions, trainMatcher } from "./train.js";
import {
  bestPerQueryTeacher,
  selectorTeacher,
  type TeacherSelection,
  type WarmStartResult,
  warmStartMatcher,
} from "./warm-start.js";

export const baselineNames = ["none", "random", "bm25", "knn"] as const;
export const selectorNames = [...baselineNames, "pillow"] as const;
export type SelectorName = (typeof selectorNames)[number];

/**
 * The warm start's teacher: one baseline's choices, "best-baseline" (the baseline best on the
 * validation queries), "best-per-query" (per training query, the baseline choice with the highest
 * training reward there; this teaches STOP where no demonstration is best) or "best-per-instruction"
 * (the baseline with the best mean training reward over the queries sharing the query's instruction).
 */
export type WarmStartTeacher = "bm25" | "knn" | "best-baseline" | "best-per-query" | "best-per-instruction";
export type WarmStartSettings = {
  teacher: WarmStartTeacher;
  epochs?: number;
  lr?: number;
  /**
   * The reward that decides the best-per-query / best-per-instruction teacher. Default: the
   * evaluation reward (ROUGE-L of the greedy answer; one generation per training query and baseline).
   */
  reward?: RolloutReward;
  /**
   * best-per-query / best-per-instruction with STOP: the teacher also weighs each deterministic
   * baseline's first 1 … k − 1 choices ("bm25@1", …, then STOP), so "fewer demonstrations" can win
   * where the full k mislead. Default true (false without STOP: a shorter choice needs STOP).
   */
  prefixes?: boolean;
};

export type KindSummary = { count: number; mean: number; meanDemos: number };

export type SelectorSummary = {
  selector: SelectorName;
  mean: number;
  standardDeviation: number;
  perSeed: number[];
  /** Bootstrap interval over test queries of the per-query reward averaged over seeds. */
  interval: Interval;
  meanDemos: number;
  byKind: Record<string, KindSummary>;
};

export type SeedRun = {
  seed: number;
  evaluations: SelectorEvaluation[];
  /** Demonstrations each selector chose per test query. */
  demoCounts: Record<SelectorName, number[]>;
  training: TrainingHistory;
  warmStart?: WarmStartResult & { teacher: string; teacherChoices?: Record<string, number> };
  /** Validation score of each kept checkpoint candidate: after the warm start (step 0) and every validationEvery RL steps. */
  validationCurve: { step: number; score: number }[];
  /** The RL step whose parameters were kept (0 = the warm-started network). */
  keptStep: number;
  matcher: MatchingNetwork;
};

export type ComparisonResult = {
  perSeed: SeedRun[];
  summary: SelectorSummary[];
  /** Baselines' validation scores (what "best-baseline" chose by), when validation queries were given. */
  validationBaselines?: Record<string, number>;
  bestBaseline: SelectorName;
  /** PILLOW − best baseline: paired over test queries (seed-averaged), and per seed. */
  difference: Interval & { perSeed: number[]; byKind: Record<string, Interval> };
  kinds: string[];
  /** Rollouts answered from the cache instead of the LLM, over training and evaluation. */
  cacheHits: number;
  llmCalls: number;
  trainingSeconds: number;
  seconds: number;
};

export type CompareOptions = {
  backend: GenerationBackend;
  /** Embedded pool (`await pool.embed(embedder)`). */
  pool: PromptPool;
  embedder: Embedder;
  train: readonly TrainingExample[];
  /** Validation queries: teacher choice and checkpoint selection. Needed by "best-baseline" and validationEvery. */
  validation?: readonly EvaluationQuery[];
  test: readonly EvaluationQuery[];
  /** Demonstrations per query for every selector (the matcher's steps). Default 3. */
  k?: number;
  seeds?: readonly number[];
  /** The training reward: "loglik" (dense), "rougeL", … Default "rougeL". */
  reward?: RolloutReward;
  /** The evaluation metric, on greedy answers. Default "rougeL". */
  evaluationReward?: RolloutReward;
  continuation?: (reference: string) => string;
  template?: PromptTemplate;
  generation?: GenerateOptions;
  /** Budget every selector (PILLOW included) gets at evaluation. */
  budget?: ContextBudget;
  /** Budget while training; a function gives each query its own. Default: `budget`. */
  trainingBudget?: TrainMatcherOptions["budget"];
  matcher?: Omit<MatchingNetworkOptions, "embedDim" | "steps" | "seed">;
  training?: Pick<
    TrainMatcherOptions,
    | "algorithm"
    | "samplesPerQuery"
    | "queriesPerStep"
    | "steps"
    | "lr"
    | "entropy"
    | "ppo"
    | "maxGradientNorm"
    | "onStep"
  >;
  warmStart?: WarmStartSettings;
  /** Score the matcher on the validation queries every this many RL steps and keep the best checkpoint. */
  validationEvery?: number;
  /** The kind of a query (e.g. specific / vague / unseen) for the per-kind tables. */
  kindOf?: (query: EvaluationQuery) => string;
  bootstrap?: BootstrapOptions;
  onSeed?: (seed: number, evaluations: SelectorEvaluation[]) => void;
  onPhase?: (message: string) => void;
};

export async function compareSelectors(options: CompareOptions): Promise<ComparisonResult> {
  const started = performance.now();
  const { backend, pool, embedder, k = 3, seeds = [0, 1, 2], budget, validation } = options;
  if (!Array.isArray(seeds) || seeds.length === 0)
    throw new RangeError("compareSelectors: seeds must be a non-empty array");
  if (!Array.isArray(options.test) || options.test.length === 0)
    throw new RangeError("compareSelectors: test must be a non-empty array");
  const needsValidation = options.warmStart?.teacher === "best-baseline" || options.validationEvery !== undefined;
  if (needsValidation && !(validation && validation.length > 0)) {
    throw new TypeError(
      "compareSelectors: the best-baseline teacher and validationEvery need validation queries (options.validation)",
    );
  }
  if (
    options.validationEvery !== undefined &&
    !(Number.isInteger(options.validationEvery) && options.validationEvery > 0)
  ) {
    throw new RangeError(
      `compareSelectors: validationEvery must be a positive integer, got ${options.validationEvery}`,
    );
  }
  const cache = new RolloutCache();
  const embedDim = pool.embeddings[0].length;
  const evaluation = {
    backend,
    pool,
    reward: options.evaluationReward ?? "rougeL",
    template: options.template,
    generation: options.generation ?? defaultGeneration,
    continuation: options.continuation,
    cache,
  };
  const trainingContext = { ...evaluation, reward: options.reward ?? "rougeL" };
  const baselines = (seed: number): Selector[] => [
    noneSelector(),
    randomSelector({ pool, k, seed, budget }),
    bm25Selector({ pool, k, budget }),
    knnSelector({ pool, k, embedder, budget }),
  ];
  const validationBaselines =
    validation && validation.length > 0
      ? Object.fromEntries(
          (await evaluateSelectors({ ...evaluation, queries: validation, selectors: baselines(seeds[0]) })).map(
            (entry) => [entry.selector, entry.meanReward],
          ),
        )
      : undefined;

  const perSeed: SeedRun[] = [];
  let trainingSeconds = 0;
  for (const seed of seeds) {
    const matcher = new MatchingNetwork({ hidden: 64, ...options.matcher, embedDim, steps: k, seed });
    const seedStarted = performance.now();
    let warmStart: SeedRun["warmStart"];
    if (options.warmStart) {
      const teacherContext = { ...evaluation, reward: options.warmStart.reward ?? evaluation.reward };
      const { teacher, teacherChoices } = await teacherSelections(
        options,
        options.warmStart.teacher,
        baselines(seed),
        teacherContext,
        validationBaselines,
      );
      options.onPhase?.(
        `seed ${seed}: warm start towards ${options.warmStart.teacher === "best-baseline" ? `the best baseline (${teacher.name})` : teacher.name}`,
      );
      const result = await warmStartMatcher({
        matcher,
        pool,
        data: options.train,
        embedder,
        teacher: teacher.selections,
        budget: options.trainingBudget ?? budget,
        epochs: options.warmStart.epochs,
        lr: options.warmStart.lr,
        seed,
      });
      warmStart = { ...result, teacher: teacher.name, teacherChoices };
    }
    const pillow = (): Selector => ({ ...matcherSelector({ matcher, pool, embedder, budget }), name: "pillow" });
    const validationScore = async () =>
      (await evaluateSelectors({ ...evaluation, queries: validation!, selectors: [pillow()] }))[0].meanReward;
    const validationCurve: SeedRun["validationCurve"] = [];
    let best: { step: number; score: number; parameters: Float64Array } | undefined;
    const consider = async (step: number) => {
      const score = await validationScore();
      validationCurve.push({ step, score });
      if (!best || score > best.score) best = { step, score, parameters: matcher.parameters.slice() };
    };
    if (options.validationEvery !== undefined) await consider(0);
    const userOnStep = options.training?.onStep;
    const training = await trainMatcher({
      ...trainingContext,
      ...options.training,
      matcher,
      embedder,
      data: options.train,
      seed,
      budget: options.trainingBudget ?? budget,
      onStep: async (record) => {
        await userOnStep?.(record);
        const step = record.step + 1;
        const last = step === (options.training?.steps ?? 100);
        if (options.validationEvery !== undefined && (step % options.validationEvery === 0 || last))
          await consider(step);
      },
    });
    if (best) {
      matcher.parameters.set(best.parameters);
      matcher.parametersChanged();
    }
    trainingSeconds += (performance.now() - seedStarted) / 1000;
    const selectors = [...baselines(seed), pillow()];
    const evaluations = await evaluateSelectors({ ...evaluation, queries: options.test, selectors });
    const demoCounts = Object.fromEntries(evaluations.map((entry) => [entry.selector, entry.demoCounts])) as Record<
      SelectorName,
      number[]
    >;
    perSeed.push({
      seed,
      evaluations,
      demoCounts,
      training,
      warmStart,
      validationCurve,
      keptStep: best?.step ?? training.steps.length,
      matcher,
    });
    options.onSeed?.(seed, evaluations);
  }
  return {
    ...summarise(perSeed, options),
    validationBaselines,
    cacheHits: cache.hits,
    llmCalls: cache.misses,
    trainingSeconds,
    seconds: (performance.now() - started) / 1000,
  };
}

async function teacherSelections(
  options: CompareOptions,
  kind: WarmStartTeacher,
  baselines: Selector[],
  context: Parameters<typeof bestPerQueryTeacher>[0],
  validationBaselines: Record<string, number> | undefined,
): Promise<{ teacher: { name: string; selections: TeacherSelection[] }; teacherChoices?: Record<string, number> }> {
  const byName = (name: string) => baselines.find((selector) => selector.name === name)!;
  if (kind === "best-per-query" || kind === "best-per-instruction") {
    // The deterministic baselines; random's choice is no ranking to imitate, and none's (STOP at
    // once) only when the network has STOP.
    const allowStop = options.matcher?.allowStop ?? false;
    const full = ["bm25", "knn"].map(byName);
    const k = options.k ?? 3;
    const prefixes =
      allowStop && (options.warmStart?.prefixes ?? true)
        ? full.flatMap((selector) => Array.from({ length: k - 1 }, (_, index) => prefixSelector(selector, index + 1)))
        : [];
    const candidates = [...(allowStop ? [byName("none")] : []), ...full, ...prefixes];
    const groupBy =
      kind === "best-per-instruction" ? (example: TrainingExample) => normalizedInstruction(example.query) : undefined;
    const { selections, chosen } = await bestPerQueryTeacher(context, candidates, options.train, groupBy);
    return { teacher: { name: kind, selections }, teacherChoices: chosen };
  }
  if (kind !== "bm25" && kind !== "knn" && kind !== "best-baseline") {
    throw new RlError(
      "E_UNKNOWN_NAME",
      `compareSelectors: unknown warm-start teacher ${JSON.stringify(kind)} (bm25, knn, best-baseline, best-per-query, best-per-instruction)`,
      { field: "warmStart.teacher" },
    );
  }
  let name: string = kind;
  if (kind === "best-baseline") {
    // Among the baselines with a choice to imitate: none's (STOP at once) only when the network has STOP.
    const candidates = options.matcher?.allowStop ? ["none", "bm25", "knn"] : ["bm25", "knn"];
    name = candidates.reduce((a, b) => (validationBaselines![b] > validationBaselines![a] ? b : a));
  }
  return { teacher: { name, selections: await selectorTeacher(byName(name), options.train) } };
}

function summarise(
  perSeed: SeedRun[],
  options: CompareOptions,
): Omit<ComparisonResult, "validationBaselines" | "cacheHits" | "llmCalls" | "trainingSeconds" | "seconds"> {
  const test = options.test;
  const kinds = options.kindOf ? [...new Set(test.map(options.kindOf))].sort() : [];
  const kindOfQuery = test.map((query) => options.kindOf?.(query) ?? "");
  const averaged = (selector: SelectorName): number[] =>
    test.map(
      (_, q) =>
        perSeed.reduce(
          (sum, run) => sum + run.evaluations.find((entry) => entry.selector === selector)!.rewards[q],
          0,
        ) / perSeed.length,
    );
  const meanOf = (values: readonly number[]) =>
    values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length);
  const summary: SelectorSummary[] = selectorNames.map((selector) => {
    const values = perSeed.map((run) => run.evaluations.find((entry) => entry.selector === selector)!.meanReward);
    const mean = meanOf(values);
    const variance =
      values.length > 1 ? values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / (values.length - 1) : 0;
    const perQuery = averaged(selector);
    const demos = test.map((_, q) => meanOf(perSeed.map((run) => run.demoCounts[selector][q])));
    const byKind = Object.fromEntries(
      kinds.map((kind) => {
        const members = test.map((_, q) => q).filter((q) => kindOfQuery[q] === kind);
        return [
          kind,
          {
            count: members.length,
            mean: meanOf(members.map((q) => perQuery[q])),
            meanDemos: meanOf(members.map((q) => demos[q])),
          },
        ];
      }),
    );
    return {
      selector,
      mean,
      standardDeviation: Math.sqrt(variance),
      perSeed: values,
      interval: bootstrapInterval(perQuery, options.bootstrap),
      meanDemos: meanOf(demos),
      byKind,
    };
  });
  const bestBaseline = summary
    .filter((row) => row.selector !== "pillow")
    .reduce((best, row) => (row.mean > best.mean ? row : best)).selector;
  const pillow = averaged("pillow");
  const baseline = averaged(bestBaseline);
  const byKind = Object.fromEntries(
    kinds.map((kind) => {
      const members = test.map((_, q) => q).filter((q) => kindOfQuery[q] === kind);
      return [
        kind,
        pairedBootstrap(
          members.map((q) => pillow[q]),
          members.map((q) => baseline[q]),
          options.bootstrap,
        ),
      ];
    }),
  );
  const row = (name: SelectorName) => summary.find((entry) => entry.selector === name)!;
  return {
    perSeed,
    summary,
    bestBaseline,
    difference: {
      ...pairedBootstrap(pillow, baseline, options.bootstrap),
      perSeed: row("pillow").perSeed.map((value, s) => value - row(bestBaseline).perSeed[s]),
      byKind,
    },
    kinds,
  };
}
