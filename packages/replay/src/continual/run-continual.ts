// The continual instruction tuning loop: for each task in order, plan the replay, train on the task
// plus the replay, evaluate on every task seen so far; then the CL metrics over R[i][j].

import type { Model } from "@pillow/core";
import type { ContinualLearner } from "./continual-learner.js";
import { createLoraLearner, type LoraLearnerOptions } from "./lora-learner.js";
import { createHashingEmbedder, type Embedder, stackVectors } from "../embedding/embedder.js";
import { ReplayError } from "../errors.js";
import { type ContinualMetrics, continualMetrics } from "../metrics/continual-metrics.js";
import {
  type ContinualTask,
  groupByInstruction,
  type InstructionInstance,
  planReplay,
  type ReplayPlan,
  type ReplayStrategy,
  replayStrategies,
  type SharedInstructions,
  sharedInstructionChoices,
  defaultSharedInstructions,
  usesInstructionTags,
  withoutInstructions,
} from "../planning/replay-plan.js";
import { createRandom, deriveSeed } from "../random.js";
import { createKeyphraseTagger } from "../tagging/keyphrase-tagger.js";
import { mergeSimilarTags } from "../tagging/merge-tags.js";
import type { Tagger } from "../tagging/tagger.js";
import { wasserstein } from "../wasserstein/wasserstein.js";

/** How a stage's training set is ordered (RunContinualOptions.stageOrder). */
export type StageOrder = "shuffled" | "current-first";
export const stageOrders: readonly StageOrder[] = ["shuffled", "current-first"];
/**
 * Chosen on validation only (training-pool instances 40..59 of each suite task, never the test
 * split; results/validation-2026-12-04/): "current-first" raised final AP for random (+0.97) and for
 * interference (+1.10 [0.0, 2.3]), whose new task it taught better (mean R[j][j] +0.99 [−0.3, 2.3]).
 */
export const defaultStageOrder: StageOrder = "current-first";

/** The stage's training set in `order` (see RunContinualOptions.stageOrder). */
export function orderStage<T>(
  random: ReturnType<typeof createRandom>,
  current: readonly T[],
  replay: readonly T[],
  order: StageOrder,
): T[] {
  if (order === "shuffled") return random.shuffled([...current, ...replay]);
  const own = random.shuffled([...current]);
  const lead = own.slice(0, Math.floor(own.length / 2));
  return [...lead, ...random.shuffled([...own.slice(lead.length), ...replay])];
}

export type ReplayPlanSummary = {
  stage: number;
  task: string;
  strategy: ReplayStrategy;
  budget: number;
  perTask: { task: string; count: number; distance?: number; increase?: number }[];
};

/** The interference strategy's look-ahead at one stage: probe losses per earlier task and its cost. */
export type LookAheadReport = { before: number[]; after: number[]; seconds: number };

export type StageReport = {
  stage: number;
  task: string;
  plan: ReplayPlanSummary;
  trainingSize: number;
  losses: number[];
  /** R[stage][j] for j ≤ stage. */
  scores: number[];
  /** Wall-clock seconds of the stage's training, its evaluation and (interference) its look-ahead. */
  seconds: { train: number; evaluate: number; lookAhead: number };
  lookAhead?: LookAheadReport;
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
  /** interference: training instances per earlier task whose loss the look-ahead probes (default 8). */
  probePerTask?: number;
  /** interference: share of the budget spread equally before the split by increase (default defaultFloorShare, 0.5). */
  floorShare?: number;
  /** interference: cap per earlier task as a share of the current task's training instances (see planReplay; default none). */
  capShare?: number;
  /** interference: the budget split by increase is at most this share of the current task's size; null = no limit (see planReplay; default defaultDirectedShare). */
  directedShare?: number | null;
  /**
   * Earlier instances whose instruction the current task also uses: "skip" leaves them out of the
   * replay and of the look-ahead's probes (see planReplay). Default: defaultSharedInstructions ("replay").
   */
  sharedInstructions?: SharedInstructions;
  /**
   * How a stage's training set is ordered. "shuffled": the current task's instances and the replay
   * shuffled together. "current-first": half of the current task's instances (shuffled) come first,
   * alone, then the other half shuffled with the replay — the new task's mapping starts before the
   * replayed instances that conflict with it (same inputs, other outputs) arrive. Default:
   * defaultStageOrder ("current-first").
   */
  stageOrder?: StageOrder;
  /**
   * Start at this stage with R's earlier rows given (previousScores) and the learner already trained
   * through stage startStage − 1, e.g. stage 0 trained once and shared by every strategy (its plan
   * is empty for all of them). Default 0.
   */
  startStage?: number;
  previousScores?: readonly (readonly number[])[];
  /**
   * "all" (default): R[i][j] for every j ≤ i. "diagonal-and-final": only R[i][i] and the last row
   * (what final AP, RG and BWT need; the rest is NaN), about a fifth of the evaluation on 16 tasks.
   */
  evaluation?: "all" | "diagonal-and-final";
  onStage?: (report: StageReport) => void | Promise<void>;
};

export type RunContinualResult = {
  scores: number[][];
  metrics: ContinualMetrics;
  plans: ReplayPlanSummary[];
  /** W[i][j]: earth mover's distance between the instructions of tasks i and j < i (inscl strategies). */
  distances: number[][];
  /** Per stage: the look-ahead (interference; undefined elsewhere). */
  lookAheads: (LookAheadReport | undefined)[];
};

function validate<T extends InstructionInstance>(
  options: RunContinualOptions<T>,
  learner: ContinualLearner<T> | undefined,
): void {
  const { tasks, strategy } = options;
  if (!learner || typeof learner.trainStage !== "function" || typeof learner.evaluate !== "function") {
    throw new TypeError(
      "runContinual: learner must have trainStage(instances, stage, task) and evaluate(test, task) (or pass model)",
    );
  }
  if (!replayStrategies.includes(strategy)) {
    throw new RangeError(
      `runContinual: strategy must be one of ${replayStrategies.join(", ")}, got ${String(strategy)}`,
    );
  }
  if (!Array.isArray(tasks) || tasks.length === 0)
    throw new RangeError("runContinual: tasks must be a non-empty array");
  if (strategy === "interference" && typeof learner.probeInterference !== "function") {
    throw new TypeError(
      'runContinual: strategy "interference" needs a learner with probeInterference (a model to run the look-ahead on)',
    );
  }
  const startStage = options.startStage ?? 0;
  if (!Number.isInteger(startStage) || startStage < 0 || startStage >= tasks.length) {
    throw new RangeError(`runContinual: startStage must be an integer in [0, ${tasks.length - 1}], got ${startStage}`);
  }
  if ((options.previousScores?.length ?? 0) !== startStage) {
    throw new RangeError(
      `runContinual: startStage ${startStage} needs ${startStage} rows of previousScores, got ${options.previousScores?.length ?? 0}`,
    );
  }
  options.previousScores?.forEach((row, i) => {
    if (
      !Array.isArray(row) ||
      row.length !== i + 1 ||
      !row.every((value, j) => Number.isFinite(value) || (j < i && Number.isNaN(value)))
    ) {
      throw new RangeError(
        `runContinual: previousScores[${i}] must hold ${i + 1} scores (finite; NaN = not evaluated, off the diagonal)`,
      );
    }
  });
  if (options.evaluation !== undefined && options.evaluation !== "all" && options.evaluation !== "diagonal-and-final") {
    throw new RangeError(
      `runContinual: evaluation must be "all" or "diagonal-and-final", got ${String(options.evaluation)}`,
    );
  }
  if (options.stageOrder !== undefined && !stageOrders.includes(options.stageOrder)) {
    throw new RangeError(
      `runContinual: stageOrder must be one of ${stageOrders.join(", ")}, got ${String(options.stageOrder)}`,
    );
  }
  if (options.sharedInstructions !== undefined && !sharedInstructionChoices.includes(options.sharedInstructions)) {
    throw new RangeError(
      `runContinual: sharedInstructions must be one of ${sharedInstructionChoices.join(", ")}, got ${String(options.sharedInstructions)}`,
    );
  }
  const probePerTask = options.probePerTask ?? 8;
  if (!Number.isInteger(probePerTask) || probePerTask < 1)
    throw new RangeError(`runContinual: probePerTask must be an integer ≥ 1, got ${probePerTask}`);
  const names = new Set<string>();
  tasks.forEach((task, index) => {
    if (!task || typeof task.name !== "string" || task.name === "")
      throw new TypeError(`runContinual: tasks[${index}].name must be a non-empty string`);
    if (names.has(task.name)) throw new RangeError(`runContinual: tasks[${index}].name "${task.name}" is used twice`);
    names.add(task.name);
    if (!Array.isArray(task.train) || task.train.length === 0) {
      throw new RangeError(`runContinual: task "${task.name}" has no training instances`);
    }
    if (!Array.isArray(task.test) || task.test.length === 0)
      throw new RangeError(`runContinual: task "${task.name}" has no test instances`);
    task.train.forEach((instance: T, k: number) => {
      if (typeof instance?.instruction !== "string" || typeof instance.output !== "string") {
        throw new TypeError(`runContinual: task "${task.name}" train[${k}] needs string fields instruction and output`);
      }
    });
  });
}

export async function runContinual<T extends InstructionInstance>(
  options: RunContinualOptions<T>,
): Promise<RunContinualResult> {
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
      const vectors = await embedder.embed(instructions);
      if (vectors.length !== instructions.length) {
        throw new ReplayError(
          "E_EMBEDDER_OUTPUT",
          `runContinual: the embedder returned ${vectors.length} vectors for ${instructions.length} instructions`,
        );
      }
      embeddings[taskIndex] = stackVectors(vectors, `embeddings of task "${tasks[taskIndex].name}"`);
    }
    return embeddings[taskIndex]!;
  }
  const rawTags = new Map<string, string[]>();

  // The look-ahead's probe set of each task: the first probePerTask of a fixed seeded permutation of
  // its training instances (under "skip", the first ones whose instruction the current task does not
  // use, so the probes measure the forgetting replay can undo).
  const probePerTask = options.probePerTask ?? 8;
  const shared = options.sharedInstructions ?? defaultSharedInstructions;
  const probeOrders = tasks.map((task) =>
    createRandom(deriveSeed(seed, "probe", task.name)).sample(task.train, task.train.length),
  );
  function probesAt(stage: number): T[][] {
    const current = new Set(tasks[stage].train.map((instance) => instance.instruction));
    return probeOrders
      .slice(0, stage)
      .map((order) => (shared === "skip" ? withoutInstructions(order, current) : order).slice(0, probePerTask));
  }

  const startStage = options.startStage ?? 0;
  const scores: number[][] = (options.previousScores ?? []).map((row) => [...row]);
  const plans: ReplayPlanSummary[] = [];
  const distanceMatrix: number[][] = [];
  const lookAheads: (LookAheadReport | undefined)[] = [];
  for (let stage = 0; stage < startStage; stage++) {
    // Skipped stages: their plans are recomputed (cheap), the learner is not called.
    plans.push({ stage, task: tasks[stage].name, strategy, budget: 0, perTask: [] });
    distanceMatrix.push([]);
    lookAheads.push(undefined);
  }
  for (let stage = startStage; stage < tasks.length; stage++) {
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

    let lookAhead: LookAheadReport | undefined;
    if (strategy === "interference" && stage > 0) {
      const started = performance.now();
      const probe = await learner.probeInterference!(task.train, probesAt(stage), stage);
      if (probe?.before?.length !== stage || probe.after?.length !== stage) {
        throw new ReplayError(
          "E_LEARNER_OUTPUT",
          `runContinual: learner.probeInterference returned ${probe?.before?.length} / ${probe?.after?.length} losses for ${stage} earlier tasks`,
        );
      }
      lookAhead = { before: probe.before, after: probe.after, seconds: (performance.now() - started) / 1000 };
    }
    lookAheads.push(lookAhead);

    let instructionTags: Map<string, string[]> | undefined;
    if (usesInstructionTags(strategy) && stage > 0) {
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
        { embedder, ...options.tagMerge },
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
      increases: lookAhead?.after.map((after, j) => after - lookAhead.before[j]),
      floorShare: options.floorShare,
      capShare: options.capShare,
      directedShare: options.directedShare,
      sharedInstructions: shared,
    });
    const summary: ReplayPlanSummary = {
      stage,
      task: task.name,
      strategy,
      budget: plan.budget,
      perTask: plan.perTask.map(({ task: name, count, distance, increase }) => ({
        task: name,
        count,
        ...(distance === undefined ? {} : { distance }),
        ...(increase === undefined ? {} : { increase }),
      })),
    };
    plans.push(summary);

    const trainingSet = orderStage(
      createRandom(deriveSeed(seed, "stage-order", stage)),
      task.train,
      plan.instances,
      options.stageOrder ?? defaultStageOrder,
    );
    const trainStarted = performance.now();
    const trained = await learner.trainStage(trainingSet, stage, task.name);
    const evaluateStarted = performance.now();
    const row: number[] = [];
    const everyTask = options.evaluation !== "diagonal-and-final" || stage === tasks.length - 1;
    for (let j = 0; j <= stage; j++) {
      if (!everyTask && j < stage) {
        row.push(Number.NaN);
        continue;
      }
      const score = await learner.evaluate(tasks[j].test, tasks[j].name);
      if (typeof score !== "number" || !Number.isFinite(score)) {
        throw new ReplayError(
          "E_LEARNER_OUTPUT",
          `runContinual: learner.evaluate returned ${score} for task "${tasks[j].name}" after stage ${stage}`,
        );
      }
      row.push(score);
    }
    scores.push(row);
    const evaluated = performance.now();
    await options.onStage?.({
      stage,
      task: task.name,
      plan: summary,
      trainingSize: trainingSet.length,
      losses: trained?.losses || [],
      scores: row,
      seconds: {
        train: (evaluateStarted - trainStarted) / 1000,
        evaluate: (evaluated - evaluateStarted) / 1000,
        lookAhead: lookAhead?.seconds ?? 0,
      },
      ...(lookAhead ? { lookAhead } : {}),
    });
  }
  return { scores, metrics: continualMetrics(scores), plans, distances: distanceMatrix, lookAheads };
}
