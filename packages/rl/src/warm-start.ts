// Imitation warm start: before RL, the matching network is fitted by cross-entropy to a teacher's
// selections on the training queries, maximising mean_q log π(teacher trajectory_q) with Adam. With
// candidate features (candidate-features.ts) the network can represent a fixed selector's ranking
// exactly, so RL starts where the best baseline is instead of from a random policy.
//
// Teachers: one fixed selector's choice for every query (`selectorTeacher`), or, per query, whichever
// of several selectors' choices earns the highest reward on that training query (`bestPerQueryTeacher`;
// with the "loglik" reward this costs one scoring pass, no generation). The second teaches STOP: where
// the model does best without demonstrations, the teacher's trajectory is STOP at step 0.

import {
  type ContextBudget,
  createRandom,
  type Embedder,
  entryText,
  type MatchingNetwork,
  type PromptPool,
  type Selector,
  shuffled,
} from "@pillow/matcher";
import { Adam } from "./adam.js";
import { RlError } from "./errors.js";
import { type RolloutContext, runRollouts } from "./rollout.js";
import { exampleFeatures, queryEmbeddings, type TrainingExample } from "./train.js";

export type TeacherSelection = { ids: number[]; stopped: boolean };

export type WarmStartRecord = { epoch: number; loss: number; seconds: number };

export type WarmStartResult = {
  epochs: WarmStartRecord[];
  /** Share of training queries whose greedy selection equals the teacher's after the warm start. */
  agreement: number;
  seconds: number;
};

export async function warmStartMatcher(options: {
  matcher: MatchingNetwork;
  pool: PromptPool;
  data: readonly TrainingExample[];
  /** One teacher selection per example (same order as data). */
  teacher: readonly TeacherSelection[];
  embedder?: Embedder;
  budget?: ContextBudget | ((example: TrainingExample) => ContextBudget | undefined);
  /** Passes over the training queries. Default 40. */
  epochs?: number;
  lr?: number;
  batchSize?: number;
  seed?: number;
  onEpoch?: (record: WarmStartRecord) => void;
}): Promise<WarmStartResult> {
  const { matcher, pool, data, teacher, epochs = 40, lr = 0.01, batchSize = 32, seed = 0 } = options;
  if (!Array.isArray(data) || data.length === 0)
    throw new RangeError("warmStartMatcher: data must be a non-empty array");
  if (!Array.isArray(teacher) || teacher.length !== data.length) {
    throw new RangeError(`warmStartMatcher: ${teacher?.length} teacher selections for ${data.length} examples`);
  }
  if (!Number.isInteger(epochs) || epochs < 0)
    throw new RangeError(`warmStartMatcher: epochs must be a non-negative integer, got ${epochs}`);
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError(`warmStartMatcher: batchSize must be a positive integer, got ${batchSize}`);
  const started = performance.now();
  const embeddings = await queryEmbeddings(data, options.embedder, matcher.config.embedDim);
  const features = exampleFeatures(matcher, pool, data, embeddings);
  const budgets = data.map((example) =>
    typeof options.budget === "function" ? options.budget(example) : options.budget,
  );
  const trajectories = teacher.map((selection, index) => {
    const ids = selection.ids.slice(0, matcher.config.steps);
    const stopped = matcher.config.allowStop && ids.length < matcher.config.steps && selection.stopped;
    return { ids, stopped, index };
  });
  const optimizer = new Adam(matcher.parameters.length, { lr });
  const random = createRandom(seed);
  const records: WarmStartRecord[] = [];
  for (let epoch = 0; epoch < epochs; epoch++) {
    const epochStarted = performance.now();
    let lossSum = 0;
    const order = shuffled(
      trajectories.map((_, index) => index),
      random,
    );
    for (let start = 0; start < order.length; start += batchSize) {
      const batch = order.slice(start, start + batchSize);
      const encoding = matcher.encodePool(pool);
      matcher.zeroGradients();
      for (const index of batch) {
        const { ids, stopped } = trajectories[index];
        const trace = replay(
          matcher,
          embeddings[index],
          encoding,
          { ids, stopped },
          budgets[index],
          features[index],
          index,
        );
        lossSum -= trace.logProb;
        matcher.accumulateGradients(trace, encoding, 1 / batch.length);
      }
      matcher.backwardPool(encoding);
      optimizer.ascend(matcher.parameters, matcher.gradients);
      matcher.parametersChanged();
    }
    const record = { epoch, loss: lossSum / order.length, seconds: (performance.now() - epochStarted) / 1000 };
    records.push(record);
    options.onEpoch?.(record);
  }
  const encoding = matcher.encodePool(pool);
  let agreeing = 0;
  trajectories.forEach(({ ids }, index) => {
    const chosen = matcher.trace(embeddings[index], encoding, {
      budget: budgets[index],
      features: features[index],
    }).ids;
    if (chosen.length === ids.length && chosen.every((id, t) => id === ids[t])) agreeing++;
  });
  return { epochs: records, agreement: agreeing / data.length, seconds: (performance.now() - started) / 1000 };
}

function replay(
  matcher: MatchingNetwork,
  embedding: ArrayLike<number>,
  encoding: ReturnType<MatchingNetwork["encodePool"]>,
  forced: { ids: number[]; stopped: boolean },
  budget: ContextBudget | undefined,
  features: Float64Array | undefined,
  index: number,
) {
  try {
    return matcher.trace(embedding, encoding, { forced, budget, features });
  } catch (error) {
    // A selection shorter than k may have ended because nothing else fit the teacher's budget, not by
    // STOP (or the network has no STOP): imitate its picks as a prefix.
    if (forced.ids.length < matcher.config.steps) {
      try {
        return matcher.trace(embedding, encoding, {
          forced: { ids: forced.ids, stopped: false, partial: true },
          budget,
          features,
        });
      } catch {
        // fall through to the first error
      }
    }
    throw new RlError(
      "E_TEACHER_REPLAY",
      `warmStartMatcher: the teacher's selection [${forced.ids}] for example ${index} cannot be replayed: ${(error as Error).message}`,
      {},
      { cause: error },
    );
  }
}

/** What a selector chooses for each example: the "fixed baseline" teacher. */
export async function selectorTeacher(
  selector: Selector,
  data: readonly TrainingExample[],
  embeddings?: readonly ArrayLike<number>[],
): Promise<TeacherSelection[]> {
  return Promise.all(
    data.map(async (example, index) => {
      const ids = await selector.select({
        text: entryText({ instruction: example.query, input: example.input }),
        instruction: example.query,
        embedding: embeddings?.[index] ?? example.embedding,
      });
      return { ids, stopped: true };
    }),
  );
}

export type BestPerQueryTeacher = {
  selections: TeacherSelection[];
  /** How often each selector's choice was the best (ties go to the earlier selector). */
  chosen: Record<string, number>;
};

/**
 * Per training query, the choice of whichever selector earns the highest reward (rolled out with the
 * training reward, through the shared cache). With `groupBy`, the selector is chosen per group by
 * its mean reward over the group's queries (e.g. per instruction text: one noisy query then does
 * not decide alone), and each query gets that selector's choice for it.
 */
export async function bestPerQueryTeacher(
  context: RolloutContext,
  selectors: readonly Selector[],
  data: readonly TrainingExample[],
  groupBy?: (example: TrainingExample) => string,
): Promise<BestPerQueryTeacher> {
  if (selectors.length === 0) throw new RangeError("bestPerQueryTeacher: give at least one selector");
  const choices = await Promise.all(selectors.map((selector) => selectorTeacher(selector, data)));
  const rewards = await Promise.all(
    choices.map(async (selections) =>
      (
        await runRollouts(
          context,
          selections.map((selection, index) => ({
            query: data[index].query,
            input: data[index].input,
            reference: data[index].reference,
            ids: selection.ids,
          })),
        )
      ).map((result) => result.reward),
    ),
  );
  const chosen: Record<string, number> = Object.fromEntries(selectors.map((selector) => [selector.name, 0]));
  const groups = data.map((example, index) => (groupBy ? groupBy(example) : String(index)));
  const totals = new Map<string, number[]>();
  groups.forEach((group, index) => {
    const sums = totals.get(group) ?? new Array(selectors.length).fill(0);
    for (let s = 0; s < selectors.length; s++) sums[s] += rewards[s][index];
    totals.set(group, sums);
  });
  const selections = data.map((_, index) => {
    const sums = totals.get(groups[index])!;
    let best = 0;
    for (let s = 1; s < selectors.length; s++) if (sums[s] > sums[best]) best = s;
    chosen[selectors[best].name]++;
    return choices[best][index];
  });
  return { selections, chosen };
}
