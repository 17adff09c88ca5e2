// Rollouts: chosen demonstrations + query → prompt → LLM answer → reward. The LLM is the cost, so
// answers are cached by (backend, query, chosen ids in order, generation settings); during training
// the same selection recurs constantly, and within one batch identical prompts are sent once.
//
// reward "loglik" is the dense reward: no generation, the mean teacher-forced log-probability per
// token of the reference answer given the prompt (backend.score: one batched forward pass per
// rollout batch in the native backend). Its scores are cached under the same key scheme.

import { formatPrompt, type GenerateOptions, type GenerationBackend } from "@pillow/core";
import type { PromptEntry, PromptPool } from "@pillow/matcher";
import { RlError } from "./errors.js";
import { type RewardFunction, type RewardName, resolveReward } from "./rewards/index.js";

/**
 * Renders the prompt: the chosen demonstrations, then the query's instruction and optional input.
 * With the suite: `(demos, query, input) => formatPrompt({ instruction: query, input, demos, maxBytes })`.
 */
export type PromptTemplate = (demos: readonly PromptEntry[], query: string, input?: string) => string;

/**
 * A plain instruction template: core's formatPrompt in its spaced layout (blank lines between the
 * sections), no byte budget; the suite's compact formatPrompt replaces it in real runs.
 */
export const defaultTemplate: PromptTemplate = (demos, query, input) =>
  formatPrompt({ instruction: query, input, demos, layout: "spaced" });

export type CacheStats = { hits: number; misses: number; entries: number };

/** A reward on the generated answer (ROUGE-L, …), or "loglik" on the reference itself. */
export type RolloutReward = RewardFunction | RewardName | "loglik";

export class RolloutCache {
  private readonly answers = new Map<string, Promise<string | number>>();
  hits = 0;
  misses = 0;

  static key(
    backendName: string,
    query: string,
    ids: readonly number[],
    generation: GenerateOptions,
    input = "",
  ): string {
    // Sorted option keys: {a, b} and {b, a} are the same settings.
    const settings = Object.keys(generation)
      .sort()
      .map((key) => [key, generation[key as keyof GenerateOptions]]);
    return JSON.stringify([backendName, query, input, ids, settings]);
  }

  get(key: string): Promise<string | number> | undefined {
    return this.answers.get(key);
  }

  set(key: string, answer: Promise<string | number>): void {
    this.answers.set(key, answer);
    // A failed generation must not stay cached.
    answer.catch(() => this.answers.delete(key));
  }

  stats(): CacheStats {
    return { hits: this.hits, misses: this.misses, entries: this.answers.size };
  }
}

export type RolloutRequest = { query: string; input?: string; reference: string; ids: readonly number[] };
export type RolloutResult = { prompt: string; answer: string; reward: number };

export type RolloutContext = {
  backend: GenerationBackend;
  pool: PromptPool;
  template?: PromptTemplate;
  reward?: RolloutReward;
  generation?: GenerateOptions;
  cache?: RolloutCache;
  /**
   * "loglik" only: the text the model should produce for a reference, as it was trained to answer
   * (the suite: formatResponse, the answer and a newline). Default: the reference itself.
   */
  continuation?: (reference: string) => string;
};

export const defaultGeneration: GenerateOptions = { maxNewTokens: 64, temperature: 0 };

/** Runs a batch of rollouts: cached answers are reused; the rest go to the backend in one batch. */
export async function runRollouts(
  context: RolloutContext,
  requests: readonly RolloutRequest[],
): Promise<RolloutResult[]> {
  const { backend } = context;
  if (!backend || typeof backend.generateBatch !== "function")
    throw new TypeError("rollouts: context.backend must be a GenerationBackend");
  if (context.reward === "loglik") return scoreRollouts(context, requests);
  const reward = resolveReward(context.reward);
  const generation = context.generation ?? defaultGeneration;
  const cache = context.cache ?? new RolloutCache();
  const prompts = renderPrompts(context, requests);
  const answers: Promise<string | number>[] = new Array(requests.length);
  const pendingPrompts: string[] = [];
  const pendingResolvers: { resolve: (text: string) => void; reject: (error: unknown) => void }[] = [];
  requests.forEach((request, index) => {
    const key = RolloutCache.key(backend.name, request.query, request.ids, generation, request.input);
    const cached = cache.get(key);
    if (cached) {
      cache.hits++;
      answers[index] = cached;
      return;
    }
    cache.misses++;
    const answer = new Promise<string>((resolve, reject) => pendingResolvers.push({ resolve, reject }));
    pendingPrompts.push(prompts[index]);
    cache.set(key, answer);
    answers[index] = answer;
  });
  if (pendingPrompts.length > 0) {
    try {
      const generations = await backend.generateBatch(pendingPrompts, generation);
      if (!Array.isArray(generations) || generations.length !== pendingPrompts.length) {
        throw new RlError(
          "E_BACKEND_OUTPUT",
          `rollouts: ${backend.name} returned ${generations?.length} generations for ${pendingPrompts.length} prompts`,
        );
      }
      generations.forEach((generation, index) => {
        pendingResolvers[index].resolve(generation.text);
      });
    } catch (error) {
      for (const pending of pendingResolvers) pending.reject(error);
    }
  }
  const texts = (await Promise.all(answers)) as string[];
  return Promise.all(
    texts.map(async (answer, index) => {
      const value = await reward(answer, requests[index].reference);
      if (typeof value !== "number" || Number.isNaN(value)) {
        throw new TypeError(`rollouts: the reward returned ${value} for request ${index}; it must be a number`);
      }
      return { prompt: prompts[index], answer, reward: value };
    }),
  );
}

/** The "loglik" reward: mean log-probability per reference token, one backend.score call for the misses. */
async function scoreRollouts(context: RolloutContext, requests: readonly RolloutRequest[]): Promise<RolloutResult[]> {
  const { backend } = context;
  if (typeof backend.score !== "function") {
    throw new RlError(
      "E_BACKEND_CAPABILITY",
      `rollouts: reward "loglik" needs a backend that scores continuations (${backend.name} has no score(); the native backend does)`,
    );
  }
  const cache = context.cache ?? new RolloutCache();
  const continuation = context.continuation ?? ((reference: string) => reference);
  const prompts = renderPrompts(context, requests);
  const scores: Promise<string | number>[] = new Array(requests.length);
  const pending: {
    prompt: string;
    continuation: string;
    resolve: (value: number) => void;
    reject: (error: unknown) => void;
  }[] = [];
  requests.forEach((request, index) => {
    const target = continuation(request.reference);
    const key = JSON.stringify(["loglik", backend.name, request.query, request.input ?? "", request.ids, target]);
    const cached = cache.get(key);
    if (cached) {
      cache.hits++;
      scores[index] = cached;
      return;
    }
    cache.misses++;
    const score = new Promise<number>((resolve, reject) =>
      pending.push({ prompt: prompts[index], continuation: target, resolve, reject }),
    );
    cache.set(key, score);
    scores[index] = score;
  });
  if (pending.length > 0) {
    try {
      const results = await backend.score(pending.map(({ prompt, continuation }) => ({ prompt, continuation })));
      if (!Array.isArray(results) || results.length !== pending.length) {
        throw new RlError(
          "E_BACKEND_OUTPUT",
          `rollouts: ${backend.name} returned ${results?.length} scores for ${pending.length} prompts`,
        );
      }
      results.forEach((result, index) => {
        if (!(result.count > 0))
          throw new RlError(
            "E_EMPTY_REFERENCE",
            `rollouts: the reference ${JSON.stringify(pending[index].continuation)} has no tokens to score`,
          );
        pending[index].resolve(result.logProb / result.count);
      });
    } catch (error) {
      for (const entry of pending) entry.reject(error);
    }
  }
  const values = (await Promise.all(scores)) as number[];
  return values.map((reward, index) => ({ prompt: prompts[index], answer: "", reward }));
}

function renderPrompts(context: RolloutContext, requests: readonly RolloutRequest[]): string[] {
  const { pool } = context;
  const template = context.template ?? defaultTemplate;
  return requests.map((request, index) => {
    if (typeof request.query !== "string" || typeof request.reference !== "string") {
      throw new TypeError(`rollouts: requests[${index}] needs string query and reference`);
    }
    const prompt = template(
      request.ids.map((id) => pool.get(id)),
      request.query,
      request.input,
    );
    if (typeof prompt !== "string")
      throw new TypeError(`rollouts: the template returned ${typeof prompt}, not a string`);
    return prompt;
  });
}
