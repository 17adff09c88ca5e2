// A synthetic PILLOW task for tests: queries come from a few clusters; the reward is high only when
// the matcher picks the pool entries that belong to the query's cluster. The fake LLM "answers" by
// copying the outputs of the demonstrations in its prompt, so the real rollout, cache and reward path
// is exercised without a model. Pool embeddings are unrelated to the query clusters, so nearest-
// neighbour retrieval cannot solve it: only learning from reward can.

import type { GenerateOptions, Generation, GenerationBackend } from "@pillow/core";
import { createRandom, PromptPool } from "@pillow/matcher";
import type { PromptTemplate } from "./rollout.js";
import type { TrainingExample } from "./train.js";

export type SyntheticEnvironment = {
  pool: PromptPool;
  backend: GenerationBackend & { calls: number };
  template: PromptTemplate;
  train: TrainingExample[];
  test: TrainingExample[];
  /** Pool indices that earn reward for each cluster. */
  goodEntries: number[][];
};

export function createSyntheticEnvironment(options: {
  clusters: number;
  entriesPerCluster: number;
  embedDim: number;
  trainPerCluster: number;
  testPerCluster: number;
  noise?: number;
  seed?: number;
}): SyntheticEnvironment {
  const { clusters, entriesPerCluster, embedDim, noise = 0.3, seed = 0 } = options;
  const random = createRandom(seed);
  const vector = () => Float32Array.from({ length: embedDim }, () => random.normal());
  const size = clusters * entriesPerCluster;
  // Entry p belongs to cluster p % clusters, so the good entries are interleaved through the pool.
  const pool = new PromptPool(
    Array.from({ length: size }, (_, p) => ({
      id: `entry-${p}`,
      instruction: `demonstration ${p}`,
      output: `word${p}`,
    })),
  );
  pool.setEmbeddings(Array.from({ length: size }, vector));
  const goodEntries = Array.from({ length: clusters }, (_, c) =>
    Array.from({ length: entriesPerCluster }, (_, j) => j * clusters + c),
  );
  const centres = Array.from({ length: clusters }, vector);
  const makeExamples = (perCluster: number, split: string): TrainingExample[] =>
    Array.from({ length: clusters * perCluster }, (_, index) => {
      const cluster = index % clusters;
      return {
        query: `${split} query ${index} (cluster ${cluster})`,
        reference: goodEntries[cluster].map((p) => `word${p}`).join(" "),
        embedding: Float32Array.from(centres[cluster], (value) => value + noise * random.normal()),
      };
    });
  const template: PromptTemplate = (demos, query) =>
    `${demos.map((demo) => `Demo: ${demo.output}\n`).join("")}Query: ${query}\n`;
  const answer = (prompt: string): Generation => ({
    text: prompt
      .split("\n")
      .filter((line) => line.startsWith("Demo: "))
      .map((line) => line.slice(6))
      .join(" "),
  });
  const backend = {
    name: "synthetic-copier",
    calls: 0,
    async generate(prompt: string, _options?: GenerateOptions) {
      backend.calls++;
      return answer(prompt);
    },
    async generateBatch(prompts: string[], _options?: GenerateOptions) {
      backend.calls += prompts.length;
      return prompts.map(answer);
    },
  };
  return {
    pool,
    backend,
    template,
    train: makeExamples(options.trainPerCluster, "train"),
    test: makeExamples(options.testPerCluster, "test"),
    goodEntries,
  };
}
