// Rollouts: chosen demonstrations + query → prompt → LLM answer → reward. The LLM is the cost, so
// answers are cached by (backend, query, chosen ids in order, generation settings); during training
// the same selection recurs constantly, and within one batch identical prompts are sent once.

import type { GenerateOptions, GenerationBackend } from "@pillow/core";
import type { PromptEntry, PromptPool } from "@pillow/matcher";
import { type RewardFunction, type RewardName, resolveReward } from "./rewards/index.js";

/**
 * Renders the prompt: the chosen demonstrations, then the query's instruction and optional input.
 * With the suite: `(demos, query, input) => formatPrompt({ instruction: query, input, demos, maxBytes })`.
 */
export type PromptTemplate = (demos: readonly PromptEntry[], query: string, input?: string) => string;

/** A plain instruction template; the suite's formatPrompt replaces it in real runs. */
export const defaultTemplate: PromptTemplate = (demos, query, input) => {
  const shots = demos.map(
    (demo) =>
      `### Instruction:\n${demo.instruction}\n${demo.input ? `\n### Input:\n${demo.input}\n` : ""}\n### Response:\n${demo.output}\n\n`,
  );
  const inputPart = input ? `\n### Input:\n${input}\n` : "";
  return `${shots.join("")}### Instruction:\n${query}\n${inputPart}\n### Response:\n`;
};

export type CacheStats = { hits: number; misses: number; entries: number };

export class RolloutCache {
  private readonly answers = new Map<string, Promise<string>>();
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

  get(key: string): Promise<string> | undefined {
    return this.answers.get(key);
  }

  set(key: string, answer: Promise<string>): void {
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
  reward?: RewardFunction | RewardName;
  generation?: GenerateOptions;
  cache?: RolloutCache;
};

export const defaultGeneration: GenerateOptions = { maxNewTokens: 64, temperature: 0 };

/** Runs a batch of rollouts: cached answers are reused; the rest go to the backend in one batch. */
export async function runRollouts(context: RolloutContext, requests: readonly RolloutRequest[]): Promise<RolloutResult[]> {
  const { backend, pool } = context;
  if (!backend || typeof backend.generateBatch !== "function") throw new Error("rollouts: backend must be a GenerationBackend");
  const template = context.template ?? defaultTemplate;
  const reward = resolveReward(context.reward);
  const generation = context.generation ?? defaultGeneration;
  const cache = context.cache ?? new RolloutCache();

  const prompts = requests.map((request, index) => {
    if (typeof request.query !== "string" || typeof request.reference !== "string") {
      throw new Error(`rollouts: request ${index} needs string query and reference`);
    }
    const prompt = template(
      request.ids.map((id) => pool.get(id)),
      request.query,
      request.input,
    );
    if (typeof prompt !== "string") throw new Error(`rollouts: the template returned ${typeof prompt}, not a string`);
    return prompt;
  });
  const answers: Promise<string>[] = new Array(requests.length);
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
        throw new Error(`rollouts: ${backend.name} returned ${generations?.length} generations for ${pendingPrompts.length} prompts`);
      }
      generations.forEach((generation, index) => {
        pendingResolvers[index].resolve(generation.text);
      });
    } catch (error) {
      for (const pending of pendingResolvers) pending.reject(error);
    }
  }
  const texts = await Promise.all(answers);
  return Promise.all(
    texts.map(async (answer, index) => {
      const value = await reward(answer, requests[index].reference);
      if (typeof value !== "number" || Number.isNaN(value)) {
        throw new Error(`rollouts: the reward returned ${value} for request ${index}; it must be a number`);
      }
      return { prompt: prompts[index], answer, reward: value };
    }),
  );
}
