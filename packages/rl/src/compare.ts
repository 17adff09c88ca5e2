// compareSelectors: the experiment behind the README tables and `pillow match eval`. For each seed it
// trains a fresh matching network, then scores none / random / bm25 / knn / PILLOW (greedy) on the
// same held-out queries with the same backend, template, generation settings and reward. One rollout
// cache is shared, so deterministic selectors that agree across seeds cost no extra LLM calls.

import type { GenerateOptions, GenerationBackend } from "@pillow/core";
import {
  bm25Selector,
  type ContextBudget,
  type Embedder,
  knnSelector,
  MatchingNetwork,
  type MatchingNetworkOptions,
  matcherSelector,
  noneSelector,
  type PromptPool,
  randomSelector,
} from "@pillow/matcher";
import { type EvaluationQuery, evaluateSelectors, type SelectorEvaluation } from "./evaluate.js";
import type { RewardFunction, RewardName } from "./rewards/index.js";
import { defaultGeneration, type PromptTemplate, RolloutCache } from "./rollout.js";
import { type TrainingExample, type TrainingHistory, type TrainMatcherOptions, trainMatcher } from "./train.js";

export type SelectorSummary = { selector: string; mean: number; standardDeviation: number; perSeed: number[] };

export type ComparisonResult = {
  perSeed: { seed: number; evaluations: SelectorEvaluation[]; training: TrainingHistory; matcher: MatchingNetwork }[];
  summary: SelectorSummary[];
  /** Rollouts answered from the cache instead of the LLM, over training and evaluation. */
  cacheHits: number;
  llmCalls: number;
  trainingSeconds: number;
};

export async function compareSelectors(options: {
  backend: GenerationBackend;
  /** Embedded pool (`await pool.embed(embedder)`). */
  pool: PromptPool;
  embedder: Embedder;
  train: readonly TrainingExample[];
  test: readonly EvaluationQuery[];
  /** Demonstrations per query for every selector (the matcher's steps). Default 3. */
  k?: number;
  seeds?: readonly number[];
  reward?: RewardFunction | RewardName;
  template?: PromptTemplate;
  generation?: GenerateOptions;
  /** Budget every selector (PILLOW included) gets at evaluation. */
  budget?: ContextBudget;
  /** Budget while training; a function gives each query its own. Default: `budget`. */
  trainingBudget?: TrainMatcherOptions["budget"];
  matcher?: Omit<MatchingNetworkOptions, "embedDim" | "steps" | "seed">;
  training?: Pick<
    TrainMatcherOptions,
    "algorithm" | "samplesPerQuery" | "queriesPerStep" | "steps" | "lr" | "entropy" | "ppo" | "maxGradientNorm" | "onStep"
  >;
  onSeed?: (seed: number, evaluations: SelectorEvaluation[]) => void;
}): Promise<ComparisonResult> {
  const { backend, pool, embedder, k = 3, seeds = [0, 1, 2], budget } = options;
  if (!Array.isArray(seeds) || seeds.length === 0) throw new Error("compareSelectors: seeds must be a non-empty array");
  const cache = new RolloutCache();
  const embedDim = pool.embeddings[0].length;
  const shared = {
    backend,
    pool,
    reward: options.reward,
    template: options.template,
    generation: options.generation ?? defaultGeneration,
    cache,
  };
  const perSeed: ComparisonResult["perSeed"] = [];
  let trainingSeconds = 0;
  for (const seed of seeds) {
    const matcher = new MatchingNetwork({ hidden: 64, ...options.matcher, embedDim, steps: k, seed });
    const training = await trainMatcher({ ...shared, ...options.training, matcher, embedder, data: options.train, seed, budget: options.trainingBudget ?? budget });
    trainingSeconds += training.seconds;
    const evaluations = await evaluateSelectors({
      ...shared,
      queries: options.test,
      selectors: [
        noneSelector(),
        randomSelector({ pool, k, seed, budget }),
        bm25Selector({ pool, k, budget }),
        knnSelector({ pool, k, embedder, budget }),
        { ...matcherSelector({ matcher, pool, embedder, budget }), name: "pillow" },
      ],
    });
    perSeed.push({ seed, evaluations, training, matcher });
    options.onSeed?.(seed, evaluations);
  }
  const summary = perSeed[0].evaluations.map(({ selector }, index) => {
    const values = perSeed.map((run) => run.evaluations[index].meanReward);
    const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
    const variance = values.length > 1 ? values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / (values.length - 1) : 0;
    return { selector, mean, standardDeviation: Math.sqrt(variance), perSeed: values };
  });
  return { perSeed, summary, cacheHits: cache.hits, llmCalls: cache.misses, trainingSeconds };
}
