// trainMatcher: policy-gradient training of the PILLOW matching network.
//
// Each step takes a batch of training queries and samples G selections per query from the current
// policy. Every selection is rolled out (prompt → LLM → reward). The advantage of sample i is its
// reward minus the mean reward of the other G − 1 samples of the same query (leave-one-out baseline:
// unbiased, and no value network to fit). The objective is
//   J = mean_i A_i · log π(τ_i) + entropy · mean_i Σ_t H(π(· | state_t))
// and Adam ascends it. With algorithm "ppo", the same rollouts are reused for several epochs with the
// clipped per-step ratio objective min(r_t A, clip(r_t, 1 ± ε) A).

import type { GenerateOptions, GenerationBackend } from "@pillow/core";
import {
  CandidateFeatureSpace,
  type ContextBudget,
  createRandom,
  type Embedder,
  entryText,
  type MatchingNetwork,
  type PromptPool,
  type SelectionTrace,
  shuffled,
} from "@pillow/matcher";
import { Adam } from "./adam.js";
import { RlError } from "./errors.js";
import { defaultGeneration, type PromptTemplate, RolloutCache, type RolloutReward, runRollouts } from "./rollout.js";

/** `query` is the instruction; `input` its optional input. Both are embedded together, like pool entries. */
export type TrainingExample = { query: string; input?: string; reference: string; embedding?: ArrayLike<number> };

export type TrainStepRecord = {
  step: number;
  meanReward: number;
  minReward: number;
  maxReward: number;
  /** Mean per-step policy entropy (nats) of the sampled selections. */
  entropy: number;
  gradientNorm: number;
  /** LLM generations this step needed (cache misses) and answers it reused (cache hits). */
  llmCalls: number;
  cacheHits: number;
  seconds: number;
};

export type TrainingHistory = {
  algorithm: "reinforce-loo" | "ppo";
  steps: TrainStepRecord[];
  llmCalls: number;
  cacheHits: number;
  seconds: number;
};

export type TrainMatcherOptions = {
  matcher: MatchingNetwork;
  /** A PromptPool with embeddings (`await pool.embed(embedder)`). */
  pool: PromptPool;
  backend: GenerationBackend;
  data: readonly TrainingExample[];
  /** Embeds queries that come without an embedding. */
  embedder?: Embedder;
  /** "loglik" (dense: log-likelihood of the reference, no generation), "rougeL" (default), … or a function. */
  reward?: RolloutReward;
  /** "loglik": the reference as the model should produce it (the suite: formatResponse). */
  continuation?: (reference: string) => string;
  algorithm?: "reinforce-loo" | "ppo";
  /** G: selections sampled per query (>= 2 for the leave-one-out baseline). Default 4. */
  samplesPerQuery?: number;
  /** Queries per step. Default min(8, data.length). */
  queriesPerStep?: number;
  steps?: number;
  lr?: number;
  /** Entropy bonus weight. Default 0.05. */
  entropy?: number;
  seed?: number;
  /** PPO clip range and epochs over each batch. */
  ppo?: { clip?: number; epochs?: number };
  maxGradientNorm?: number;
  template?: PromptTemplate;
  generation?: GenerateOptions;
  /** Context budget for the selections; a function gives each query its own (the query uses part). */
  budget?: ContextBudget | ((example: TrainingExample) => ContextBudget | undefined);
  cache?: RolloutCache;
  onStep?: (record: TrainStepRecord) => void | Promise<void>;
};

type Sample = { exampleIndex: number; trace: SelectionTrace; reward: number; advantage: number };

export async function trainMatcher(options: TrainMatcherOptions): Promise<TrainingHistory> {
  const {
    matcher,
    pool,
    backend,
    data,
    algorithm = "reinforce-loo",
    samplesPerQuery = 4,
    steps = 100,
    lr = 0.01,
    entropy = 0.05,
    seed = 0,
  } = options;
  if (!matcher || typeof matcher.trace !== "function")
    throw new TypeError("trainMatcher: matcher must be a MatchingNetwork");
  if (algorithm !== "reinforce-loo" && algorithm !== "ppo") {
    throw new RlError(
      "E_UNKNOWN_NAME",
      `trainMatcher: algorithm must be "reinforce-loo" or "ppo", got ${JSON.stringify(algorithm)}`,
      { field: "algorithm" },
    );
  }
  if (!Array.isArray(data) || data.length === 0) throw new RangeError("trainMatcher: data must be a non-empty array");
  if (!Number.isInteger(samplesPerQuery) || samplesPerQuery < 2) {
    throw new RangeError(
      `trainMatcher: samplesPerQuery must be an integer >= 2 (leave-one-out baseline), got ${samplesPerQuery}`,
    );
  }
  if (!Number.isInteger(steps) || steps < 0)
    throw new RangeError(`trainMatcher: steps must be a non-negative integer, got ${steps}`);
  if (!(entropy >= 0)) throw new RangeError(`trainMatcher: entropy must be >= 0, got ${entropy}`);
  const queriesPerStep = options.queriesPerStep ?? Math.min(8, data.length);
  if (!Number.isInteger(queriesPerStep) || queriesPerStep < 1) {
    throw new RangeError(`trainMatcher: queriesPerStep must be a positive integer, got ${queriesPerStep}`);
  }
  const clip = options.ppo?.clip ?? 0.2;
  const epochs = algorithm === "ppo" ? (options.ppo?.epochs ?? 4) : 1;
  if (!(clip > 0) || !Number.isInteger(epochs) || epochs < 1)
    throw new RangeError("trainMatcher: ppo needs clip > 0 and integer epochs >= 1");

  const embeddings = await queryEmbeddings(data, options.embedder, matcher.config.embedDim);
  const features = exampleFeatures(matcher, pool, data, embeddings);
  const budgets = data.map((example) =>
    typeof options.budget === "function" ? options.budget(example) : options.budget,
  );
  const cache = options.cache ?? new RolloutCache();
  const rolloutContext = {
    backend,
    pool,
    template: options.template,
    reward: options.reward,
    generation: options.generation ?? defaultGeneration,
    continuation: options.continuation,
    cache,
  };
  const optimizer = new Adam(matcher.parameters.length, { lr, maxGradientNorm: options.maxGradientNorm });
  const random = createRandom(seed);
  const history: TrainingHistory = { algorithm, steps: [], llmCalls: 0, cacheHits: 0, seconds: 0 };
  const started = performance.now();
  let order: number[] = [];

  for (let step = 0; step < steps; step++) {
    const stepStarted = performance.now();
    const batch: number[] = [];
    while (batch.length < queriesPerStep) {
      if (order.length === 0)
        order = shuffled(
          Array.from({ length: data.length }, (_, index) => index),
          random,
        );
      batch.push(order.pop()!);
    }

    let encoding = matcher.encodePool(pool);
    const samples: Sample[] = [];
    for (const exampleIndex of batch) {
      for (let g = 0; g < samplesPerQuery; g++) {
        const trace = matcher.trace(embeddings[exampleIndex], encoding, {
          mode: "sample",
          random,
          budget: budgets[exampleIndex],
          features: features[exampleIndex],
        });
        samples.push({ exampleIndex, trace, reward: 0, advantage: 0 });
      }
    }
    const hitsBefore = cache.hits;
    const missesBefore = cache.misses;
    const results = await runRollouts(
      rolloutContext,
      samples.map((sample) => {
        const example = data[sample.exampleIndex];
        return { query: example.query, input: example.input, reference: example.reference, ids: sample.trace.ids };
      }),
    );
    results.forEach((result, index) => {
      samples[index].reward = result.reward;
    });
    // Leave-one-out advantage within each query's group of G samples.
    for (let start = 0; start < samples.length; start += samplesPerQuery) {
      const group = samples.slice(start, start + samplesPerQuery);
      const total = group.reduce((sum, sample) => sum + sample.reward, 0);
      for (const sample of group) sample.advantage = sample.reward - (total - sample.reward) / (group.length - 1);
    }

    const weight = 1 / samples.length;
    let gradientNorm = 0;
    for (let epoch = 0; epoch < epochs; epoch++) {
      matcher.zeroGradients();
      if (epoch > 0) encoding = matcher.encodePool(pool);
      for (const sample of samples) {
        const entropyWeight = entropy * weight;
        if (algorithm === "reinforce-loo") {
          matcher.accumulateGradients(sample.trace, encoding, sample.advantage * weight, entropyWeight);
          continue;
        }
        // PPO: replay the sampled trajectory under the current parameters for per-step ratios.
        const current =
          epoch === 0
            ? sample.trace
            : matcher.trace(embeddings[sample.exampleIndex], encoding, {
                forced: { ids: sample.trace.ids, stopped: sample.trace.stopped },
                budget: budgets[sample.exampleIndex],
                features: features[sample.exampleIndex],
              });
        const logProbWeights = current.steps.map((currentStep, t) => {
          const ratio = Math.exp(currentStep.logProb - sample.trace.steps[t].logProb);
          const clipped = (sample.advantage >= 0 && ratio > 1 + clip) || (sample.advantage < 0 && ratio < 1 - clip);
          // d/d log π of min(r A, clip(r) A) is r·A where the unclipped term is active, else 0.
          return clipped ? 0 : ratio * sample.advantage * weight;
        });
        matcher.accumulateGradients(current, encoding, logProbWeights, entropyWeight);
      }
      matcher.backwardPool(encoding);
      gradientNorm = optimizer.ascend(matcher.parameters, matcher.gradients);
      matcher.parametersChanged();
    }

    const rewardsThisStep = samples.map((sample) => sample.reward);
    const stepCount = samples.reduce((sum, sample) => sum + sample.trace.steps.length, 0);
    const entropySum = samples.reduce((sum, sample) => sum + sample.trace.steps.reduce((s, t) => s + t.entropy, 0), 0);
    const record: TrainStepRecord = {
      step,
      meanReward: rewardsThisStep.reduce((sum, value) => sum + value, 0) / rewardsThisStep.length,
      minReward: Math.min(...rewardsThisStep),
      maxReward: Math.max(...rewardsThisStep),
      entropy: stepCount > 0 ? entropySum / stepCount : 0,
      gradientNorm,
      llmCalls: cache.misses - missesBefore,
      cacheHits: cache.hits - hitsBefore,
      seconds: (performance.now() - stepStarted) / 1000,
    };
    history.steps.push(record);
    history.llmCalls += record.llmCalls;
    history.cacheHits += record.cacheHits;
    await options.onStep?.(record);
  }
  history.seconds = (performance.now() - started) / 1000;
  return history;
}

/** The candidate-feature matrix of every example (undefined for a network without features). */
export function exampleFeatures(
  matcher: MatchingNetwork,
  pool: PromptPool,
  data: readonly TrainingExample[],
  embeddings: readonly ArrayLike<number>[],
): (Float64Array | undefined)[] {
  const names = matcher.featureNames;
  if (names.length === 0) return data.map(() => undefined);
  const space = new CandidateFeatureSpace(pool, names);
  return data.map((example, index) =>
    space.compute({
      text: entryText({ instruction: example.query, input: example.input }),
      instruction: example.query,
      embedding: embeddings[index],
    }),
  );
}

export async function queryEmbeddings(
  data: readonly TrainingExample[],
  embedder: Embedder | undefined,
  embedDim: number,
): Promise<ArrayLike<number>[]> {
  const missing = data.map((example, index) => (example.embedding ? -1 : index)).filter((index) => index >= 0);
  const computed =
    missing.length === 0
      ? []
      : embedder
        ? await embedder.embed(
            missing.map((index) => entryText({ instruction: data[index].query, input: data[index].input })),
          )
        : (() => {
            throw new TypeError(`trainMatcher: data[${missing[0]}] has no embedding and no embedder was given`);
          })();
  const byIndex = new Map(missing.map((index, position) => [index, computed[position]]));
  return data.map((example, index) => {
    if (typeof example.query !== "string" || typeof example.reference !== "string") {
      throw new TypeError(`trainMatcher: data[${index}] needs string "query" and "reference"`);
    }
    const vector = example.embedding ?? byIndex.get(index)!;
    if (vector.length !== embedDim) {
      throw new RangeError(
        `trainMatcher: data[${index}] embedding has length ${vector.length}, the matcher expects ${embedDim}`,
      );
    }
    return vector;
  });
}
