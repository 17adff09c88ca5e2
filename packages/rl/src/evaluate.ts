// evaluateSelectors: the fair comparison. Every selector picks demonstrations for the same held-out
// queries; the same backend, template, generation settings and reward score the answers.

import type { GenerateOptions, GenerationBackend } from "@pillow/core";
import { entryText, type PromptPool, type Selector } from "@pillow/matcher";
import {
  defaultGeneration,
  type PromptTemplate,
  type RolloutCache,
  type RolloutReward,
  runRollouts,
} from "./rollout.js";

export type EvaluationQuery = { query: string; input?: string; reference: string; embedding?: ArrayLike<number> };

export type SelectorEvaluation = {
  selector: string;
  meanReward: number;
  /** Standard error of the mean over queries. */
  standardError: number;
  rewards: number[];
  /** Mean number of demonstrations chosen. */
  meanDemos: number;
  /** Demonstrations chosen per query. */
  demoCounts: number[];
};

export async function evaluateSelectors(options: {
  backend: GenerationBackend;
  pool: PromptPool;
  queries: readonly EvaluationQuery[];
  selectors: readonly Selector[];
  reward?: RolloutReward;
  template?: PromptTemplate;
  generation?: GenerateOptions;
  cache?: RolloutCache;
  continuation?: (reference: string) => string;
}): Promise<SelectorEvaluation[]> {
  const { queries, selectors } = options;
  if (!Array.isArray(queries) || queries.length === 0)
    throw new RangeError("evaluateSelectors: queries must be a non-empty array");
  if (!Array.isArray(selectors) || selectors.length === 0)
    throw new RangeError("evaluateSelectors: selectors must be a non-empty array");
  const results: SelectorEvaluation[] = [];
  for (const selector of selectors) {
    // Selectors see instruction + input, the same text the pool entries are represented by.
    const chosen = await Promise.all(
      queries.map((query) =>
        selector.select({
          text: entryText({ instruction: query.query, input: query.input }),
          instruction: query.query,
          embedding: query.embedding,
        }),
      ),
    );
    const rollouts = await runRollouts(
      {
        backend: options.backend,
        pool: options.pool,
        template: options.template,
        reward: options.reward,
        generation: options.generation ?? defaultGeneration,
        cache: options.cache,
        continuation: options.continuation,
      },
      queries.map((query, index) => ({
        query: query.query,
        input: query.input,
        reference: query.reference,
        ids: chosen[index],
      })),
    );
    const rewards = rollouts.map((rollout) => rollout.reward);
    const mean = rewards.reduce((sum, value) => sum + value, 0) / rewards.length;
    const variance =
      rewards.length > 1 ? rewards.reduce((sum, value) => sum + (value - mean) ** 2, 0) / (rewards.length - 1) : 0;
    results.push({
      selector: selector.name,
      meanReward: mean,
      standardError: Math.sqrt(variance / rewards.length),
      rewards,
      meanDemos: chosen.reduce((sum, ids) => sum + ids.length, 0) / chosen.length,
      demoCounts: chosen.map((ids) => ids.length),
    });
  }
  return results;
}
