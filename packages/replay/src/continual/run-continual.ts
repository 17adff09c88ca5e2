// The continual instruction tuning loop: for each task in order, plan the replay, train on the task
// plus the replay, evaluate on every task seen so far; then the CL metrics over R[i][j].

import type { Model } from "@pillow/core";
import { createLoraLearner, type LoraLearnerOptions } from "./lora-learner.js";
import { createHashingEmbedder, type Embedder, stackVectors } from "../embedding/embedder.js";
import { type ContinualMetrics, continualMetrics } from "../metrics/continual-metrics.js";
import {
  type ContinualTask,
  groupByInstruction,
  type InstructionInstance,
  planReplay,
  type ReplayPlan,
  type ReplayStrategy,
  replayStrategies,
} from "../planning/replay-plan.js";
import { createRandom, deriveSeed } from "../random.js";
import { createKeyphraseTagger } from "../tagging/keyphrase-tagger.js";
import { mergeSimilarTags } from "../tagging/merge-tags.js";
import type { Tagger } from "../tagging/tagger.js";
import { wasserstein } from "../wasserstein/wasserstein.js";

/** What runContinual trains and evaluates: e.g. a LoRA model (see the CLI) or a simulation in tests. */
export interface ContinualLearner<T extends InstructionInstance = InstructionInstance> {
  /** Trains on the stage's data (the current task's training set plus the replay, shuffled). */
  trainStage(instances: T[], stage: number, task: string): Promise<{ losses?: number[] } | undefined | undefined>;
  /** Mean score (e.g. ROUGE-L F1 · 100) on a test set. */
  evaluate(test: T[], task: string): Promise<number>;
}

export type ReplayPlanSummary = {
  stage: number;
  task: string;
  strategy: ReplayStrategy;
  budget: number;
  perTask: { task: string; count: number; distance?: number }[];
};

export type StageReport = {
  stage: number;
  task: string;
  plan: ReplayPlanSummary;
  trainingSize: number;
  losses: number[];
  /** R[stage][j] for j ≤ stage. */
  scores: number[];
};

export type RunContinualOptions<T extends InstructionInstance> = {
  /** What is trained and evaluated. Give either a learner or a core Model (wrapped by createLoraLearner). */
  learner?: ContinualLearner<T>;
  /** A core Model: one LoRA adapter is trained across the stages (see createLoraLearner). */
  model?: Model;
  /** Options of the learner built for `model`. */
  loraLearner?: LoraLearnerOptions<T>;
  tasks: readonly ContinualTask<T>[];
  strategy: ReplayStrategy;
  /** Replayed instances per earlier task: stage i replays replayPerTask · i in total (default 200). */
  replayPerTask?: number;
  /** Instruction and tag embeddings (default: the local hashing embedder). */
  embedder?: Embedder;
  /** Intention tagger for InsInfo (default: the local keyphrase tagger). */
  tagger?: Tagger;
  /** DBSCAN settings for merging similar tags (InsCL: ε 0.1, min samples 5). */
  tagMerge?: { epsilon?: number; minSamples?: number };
  /** "real" (default): instruction weights are their shares of the task's instances; "uniform": equal. */
  instructionWeights?: "real" | "uniform";
  /** Exact EMD while n·m stays under this many cost entries (default 4 000 000), log-domain Sinkhorn above. */
  exactLimit?: number;
  seed?: number;
  onStage?: (report: StageReport) => void | Promise<void>;
};

export type RunContinualResult = {
  scores: number[][];
  metrics: ContinualMetrics;
  plans: ReplayPlanSummary[];
  /** W[i][j]: earth mover's distance between the instructions of tasks i and j < i (inscl strategies). */
  distances: number[][];
};

function validate<T extends InstructionInstance>(options: RunContinualOptions<T>, learner: ContinualLearner<T> | undefined): void {
  const { tasks, strategy } = options;
  if (!learner || typeof learner.trainStage !== "function" || typeof learner.evaluate !== "function") {
    throw new TypeError("runContinual: learner must have trainStage(instances, stage, task) and evaluate(test, task) (or pass model)");
  }
  if (!replayStrategies.includes(strategy)) {
    throw new RangeError(`runContinual: strategy must be one of ${replayStrategies.join(", ")}, got ${String(strategy)}`);
  }
  if (!Array.isArray(tasks) || tasks.length === 0) throw new RangeError("runContinual: tasks must be a non-empty array");
  const names = new Set<string>();
  tasks.forEach((task, index) => {
    if (!task || typeof task.name !== "string" || task.name === "") throw new TypeError(`runContinual: tasks[${index}].name must be a non-empty string`);
    if (names.has(task.name)) throw new RangeError(`runContinual: tasks[${index}].name "${task.name}" is used twice`);
    names.add(task.name);
    if (!Array.isArray(task.train) || task.train.length === 0) {
      throw new RangeError(`runContinual: task "${task.name}" has no training instances`);
    }
    if (!Array.isArray(task.test) || task.test.length === 0) throw new RangeError(`runContinual: task "${task.name}" has no test instances`);
    task.train.forEach((instance: T, k: number) => {
      if (typeof instance?.instruction !== "string" || typeof instance.output !== "string") {
        throw new TypeError(`runContinual: task "${task.name}" train[${k}] needs string fields instruction and output`);
      }
    });
  });
}

export async function runContinual<T extends InstructionInstance>(options: RunContinualOptions<T>): Promise<RunContinualResult> {
  if (options.learner && options.model) throw new TypeError("runContinual: give either learner or model, not both");
  const learner: ContinualLearner<T> | undefined =
    options.learner ?? (options.model ? createLoraLearner<T>(options.model, options.loraLearner) : undefined);
  validate(options, learner);
  const { tasks, strategy } = options;
  if (!learner) throw new TypeError("runContinual: learner or model is required");
  const replayPerTask = options.replayPerTask ?? 200;
  const seed = options.seed ?? 0;
  const embedder = options.embedder ?? createHashingEmbedder();
  const tagger = options.tagger ?? createKeyphraseTagger();
  const exactLimit = options.exactLimit ?? 4_000_000;
  const usesDistance = strategy === "inscl" || strategy === "inscl-dynamic";

  // Per task: unique instructions, their embeddings and weights (computed once, when first needed).
  const taskInstructions = tasks.map((task) => {
    const groups = groupByInstruction(task.train);
    const total = task.train.length;
    const weights = Float64Array.from(groups, (group) =>
      options.instructionWeights === "uniform" ? 1 : group.instances.length / total,
    );
    return { instructions: groups.map((group) => group.instruction), weights };
  });
  const embeddings: ({ data: Float32Array; n: number; dim: number } | undefined)[] = tasks.map(() => undefined);
  async function embeddingOf(taskIndex: number) {
    if (!embeddings[taskIndex]) {
      const { instructions } = taskInstructions[taskIndex];
      const vectors = await embedder(instructions);
      if (vectors.length !== instructions.length) {
        throw new Error(`runContinual: the embedder returned ${vectors.length} vectors for ${instructions.length} instructions`);
      }
      embeddings[taskIndex] = stackVectors(vectors, `embeddings of task "${tasks[taskIndex].name}"`);
    }
    return embeddings[taskIndex]!;
  }
  const rawTags = new Map<string, string[]>();

  const scores: number[][] = [];
  const plans: ReplayPlanSummary[] = [];
  const distanceMatrix: number[][] = [];
  for (let stage = 0; stage < tasks.length; stage++) {
    const task = tasks[stage];
    let distances: number[] | undefined;
    if (usesDistance && stage > 0) {
      const current = await embeddingOf(stage);
      distances = [];
      for (let j = 0; j < stage; j++) {
        const earlier = await embeddingOf(j);
        const method = current.n * earlier.n <= exactLimit ? "exact" : "sinkhorn";
        distances.push(
          wasserstein(current, earlier, {
            weightsA: taskInstructions[stage].weights,
            weightsB: taskInstructions[j].weights,
            cost: "cosine",
            method,
          }),
        );
      }
    }
    distanceMatrix.push(distances ?? []);

    let instructionTags: Map<string, string[]> | undefined;
    if (strategy === "inscl" && stage > 0) {
      const seen = [...new Set(taskInstructions.slice(0, stage + 1).flatMap((entry) => entry.instructions))];
      const untagged = seen.filter((instruction) => !rawTags.has(instruction));
      if (untagged.length > 0) {
        const tagged = await tagger.tag(untagged);
        untagged.forEach((instruction, k) => {
          rawTags.set(instruction, tagged[k] ?? []);
        });
      }
      const merged = await mergeSimilarTags(
        seen.map((instruction) => rawTags.get(instruction)!),
        { embed: embedder, ...options.tagMerge },
      );
      instructionTags = new Map(seen.map((instruction, k) => [instruction, merged.tags[k]]));
    }

    const plan: ReplayPlan<T> = planReplay({
      stage,
      tasks,
      strategy,
      replayPerTask,
      seed,
      distances,
      instructionTags,
    });
    const summary: ReplayPlanSummary = {
      stage,
      task: task.name,
      strategy,
      budget: plan.budget,
      perTask: plan.perTask.map(({ task: name, count, distance }) => (distance === undefined ? { task: name, count } : { task: name, count, distance })),
    };
    plans.push(summary);

    const trainingSet = createRandom(deriveSeed(seed, "stage-order", stage)).shuffled([...task.train, ...plan.instances]);
    const trained = await learner.trainStage(trainingSet, stage, task.name);
    const row: number[] = [];
    for (let j = 0; j <= stage; j++) {
      const score = await learner.evaluate(tasks[j].test, tasks[j].name);
      if (typeof score !== "number" || !Number.isFinite(score)) {
        throw new Error(`runContinual: learner.evaluate returned ${score} for task "${tasks[j].name}" after stage ${stage}`);
      }
      row.push(score);
    }
    scores.push(row);
    await options.onStage?.({
      stage,
      task: task.name,
      plan: summary,
      trainingSize: trainingSet.length,
      losses: (trained?.losses) || [],
      scores: row,
    });
  }
  return { scores, metrics: continualMetrics(scores), plans, distances: distanceMatrix };
}
