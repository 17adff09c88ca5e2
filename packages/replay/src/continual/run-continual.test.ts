import { describe, expect, it } from "vitest";
import { continualMetrics } from "../metrics/continual-metrics.js";
import type { ContinualTask } from "../planning/replay-plan.js";
import type { ContinualLearner } from "./continual-learner.js";
import { runContinual, type StageReport } from "./run-continual.js";

type Item = { instruction: string; input: string; output: string; task: string };

const phrasings: Record<string, string[]> = {
  sentiment: [
    "Classify the sentiment of the review.",
    "Is this review positive or negative?",
    "Label the review's sentiment.",
  ],
  plural: ["Write the plural form of the noun.", "Give the plural of this word.", "Pluralise the word."],
  capital: [
    "What is the capital city of this country?",
    "Name the capital of the country.",
    "Give the country's capital.",
  ],
  numbers: ["Convert the number to English words.", "Spell out the number in words.", "Write this number in words."],
};

function makeTasks(): ContinualTask<Item>[] {
  return Object.entries(phrasings).map(([name, instructions]) => {
    const train: Item[] = [];
    for (let k = 0; k < 30; k++) {
      // Unequal instruction shares: the first phrasing is the most common (real-distribution weights).
      const instruction = instructions[k % 5 === 0 ? 2 : k % 2];
      train.push({ instruction, input: `${name} input ${k}`, output: `${name} output ${k}`, task: name });
    }
    const test = [0, 1, 2, 3, 4].map((k) => ({
      instruction: instructions[0],
      input: `test ${k}`,
      output: "o",
      task: name,
    }));
    return { name, train, test };
  });
}

/**
 * A deterministic simulated learner: training on a task sets its skill to 80; every stage decays the
 * skill of the other tasks by e^−0.3 (interference), and replayed instances restore part of the loss
 * (1 − e^(−count/20) of the way back to the task's peak).
 */
function simulatedLearner(): ContinualLearner<Item> & { stagesSeen: Item[][] } {
  const skill = new Map<string, number>();
  const peak = new Map<string, number>();
  const stagesSeen: Item[][] = [];
  return {
    stagesSeen,
    async trainStage(instances, _stage, task) {
      stagesSeen.push(instances);
      const counts = new Map<string, number>();
      for (const instance of instances) counts.set(instance.task, (counts.get(instance.task) ?? 0) + 1);
      for (const [name, value] of skill) {
        if (name === task) continue;
        const decayed = value * Math.exp(-0.3);
        const recovered = 1 - Math.exp(-(counts.get(name) ?? 0) / 20);
        skill.set(name, decayed + (peak.get(name)! - decayed) * recovered);
      }
      skill.set(task, 80);
      peak.set(task, 80);
      return { losses: [1 / (1 + stagesSeen.length)] };
    },
    async evaluate(_test, task) {
      return skill.get(task) ?? 0;
    },
  };
}

describe("runContinual with a simulated learner", () => {
  it("no replay: R follows the simulated forgetting exactly (hand-computed)", async () => {
    const learner = simulatedLearner();
    const result = await runContinual({ learner, tasks: makeTasks(), strategy: "none", seed: 1 });
    const decay = Math.exp(-0.3);
    expect(result.scores.length).toBe(4);
    expect(result.scores[3][0]).toBeCloseTo(80 * decay ** 3, 10);
    expect(result.scores[3][2]).toBeCloseTo(80 * decay, 10);
    expect(result.scores[2]).toEqual([80 * decay ** 2, 80 * decay, 80].map((x) => expect.closeTo(x, 10)));
    expect(result.metrics.relativeGain[3]).toBeCloseTo(((decay ** 3 + decay ** 2 + decay) / 3) * 100, 10);
    expect(result.plans.every((plan) => plan.budget === 0)).toBe(true);
    // Each stage trains on exactly the current task.
    expect(learner.stagesSeen.map((instances) => instances.length)).toEqual([30, 30, 30, 30]);
  });

  for (const strategy of ["random", "uniform", "inscl-dynamic", "inscl"] as const) {
    it(`${strategy}: replays replayPerTask·i, beats no replay, is deterministic, reports every stage`, async () => {
      const reports: StageReport[] = [];
      const options = { tasks: makeTasks(), strategy, replayPerTask: 10, seed: 7, tagMerge: { minSamples: 2 } };
      const result = await runContinual({
        ...options,
        learner: simulatedLearner(),
        onStage: (report) => void reports.push(report),
      });
      expect(result.plans.map((plan) => plan.budget)).toEqual([0, 10, 20, 30]);
      for (const plan of result.plans)
        expect(plan.perTask.reduce((sum, entry) => sum + entry.count, 0)).toBe(plan.budget);
      expect(reports.map((report) => report.trainingSize)).toEqual([30, 40, 50, 60]);
      expect(reports.map((report) => report.scores)).toEqual(result.scores);
      expect(result.metrics).toEqual(continualMetrics(result.scores));
      const none = await runContinual({ ...options, strategy: "none", learner: simulatedLearner() });
      expect(result.metrics.relativeGain[3]).toBeGreaterThan(none.metrics.relativeGain[3] + 10);
      expect(result.metrics.bwt).toBeGreaterThan(none.metrics.bwt);
      const again = await runContinual({ ...options, learner: simulatedLearner() });
      expect(again.scores).toEqual(result.scores);
      expect(again.plans).toEqual(result.plans);
      if (strategy === "inscl" || strategy === "inscl-dynamic") {
        expect(result.distances[3].length).toBe(3);
        for (const distance of result.distances[3]) expect(distance).toBeGreaterThan(0);
        expect(result.plans[3].perTask.map((entry) => entry.distance)).toEqual(result.distances[3]);
      }
    });
  }

  it("interference: the measured increases drive the split (floor + ∝ increase), and a learner without a look-ahead is refused", async () => {
    // A look-ahead that says only the first task is hurt (its probe loss rises by 1).
    const learner = {
      ...simulatedLearner(),
      probes: [] as Item[][][],
      async probeInterference(_current: Item[], probes: Item[][]) {
        this.probes.push(probes);
        return { before: probes.map(() => 1), after: probes.map((_, j) => (j === 0 ? 2 : 1)) };
      },
    };
    const result = await runContinual({
      learner,
      tasks: makeTasks(),
      strategy: "interference",
      replayPerTask: 10,
      seed: 7,
      probePerTask: 4,
      floorShare: 0.25,
      tagMerge: { minSamples: 2 },
    });
    // Stage 3: R = 30, floor ⌊0.25·30/3⌋ = 2 each, the other 24 all to the first task.
    expect(result.plans[3].perTask.map((entry) => entry.count)).toEqual([26, 2, 2]);
    expect(result.plans[3].perTask.map((entry) => entry.increase)).toEqual([1, 0, 0]);
    // Stage 1: R = 10, floor 2, the other 8 to the only earlier task.
    expect(result.plans[1].perTask.map((entry) => entry.count)).toEqual([10]);
    // The probe sets: 4 training instances of each earlier task, the same sample at every stage.
    expect(learner.probes.map((probes) => probes.length)).toEqual([1, 2, 3]);
    expect(learner.probes[2][0]).toEqual(learner.probes[0][0]);
    const trainOfFirst = new Set(makeTasks()[0].train.map((instance) => instance.input));
    for (const instance of learner.probes[2][0]) expect(trainOfFirst.has(instance.input)).toBe(true);
    await expect(
      runContinual({ learner: simulatedLearner(), tasks: makeTasks(), strategy: "interference" }),
    ).rejects.toThrow(/"interference" needs a learner with probeInterference/);
  });

  it('"skip" leaves shared instructions out of the probes and the replay; "replay" (default) keeps them', async () => {
    // Task "numbers" (the last) also uses one of "sentiment"'s phrasings: a shared instruction.
    const shared = phrasings.sentiment[1];
    const tasks = makeTasks();
    tasks[3].train = tasks[3].train.map((instance, k) =>
      k % 3 === 0 ? { ...instance, instruction: shared } : instance,
    );
    const recording = () => ({
      ...simulatedLearner(),
      probes: [] as Item[][][],
      async probeInterference(_current: Item[], probes: Item[][]) {
        this.probes.push(probes);
        return { before: probes.map(() => 1), after: probes.map(() => 1) };
      },
    });
    const run = (learner: ReturnType<typeof recording>, sharedInstructions?: "replay" | "skip") =>
      runContinual({
        learner,
        tasks,
        strategy: "interference",
        replayPerTask: 10,
        seed: 7,
        probePerTask: 12,
        tagMerge: { minSamples: 2 },
        ...(sharedInstructions ? { sharedInstructions } : {}),
      });
    const skipping = recording();
    const skipped = await run(skipping, "skip");
    // At the last stage (index 3) sentiment's 12 probes avoid the shared phrasing; at stage 2 they may use it.
    const sentimentTrain = tasks[0].train.filter((instance) => instance.instruction !== shared);
    expect(skipping.probes[2][0]).toHaveLength(12);
    expect(skipping.probes[2][0].some((instance) => instance.instruction === shared)).toBe(false);
    for (const instance of skipping.probes[2][0]) expect(sentimentTrain).toContainEqual(instance);
    expect(skipping.probes[1][0].some((instance) => instance.instruction === shared)).toBe(true);
    // The last stage's training set replays nothing of sentiment under the shared phrasing.
    const lastStage = skipping.stagesSeen[3].filter((instance) => instance.task === "sentiment");
    expect(lastStage.length).toBe(skipped.plans[3].perTask[0].count);
    expect(lastStage.some((instance) => instance.instruction === shared)).toBe(false);
    const replaying = recording();
    await run(replaying);
    expect(replaying.probes[2][0].some((instance) => instance.instruction === shared)).toBe(true);
    // "replay" takes the first 12 of the same seeded permutation the "skip" probes filter.
    expect(replaying.probes[2][0].filter((instance) => instance.instruction !== shared)).toEqual(
      skipping.probes[2][0].slice(
        0,
        replaying.probes[2][0].filter((instance) => instance.instruction !== shared).length,
      ),
    );
    await expect(run(recording(), "drop" as "skip")).rejects.toThrow(
      /sharedInstructions must be one of replay, skip, got drop/,
    );
  });

  it("startStage + previousScores continue a run exactly; diagonal-and-final evaluates what the final metrics need", async () => {
    const full = await runContinual({ learner: simulatedLearner(), tasks: makeTasks(), strategy: "none", seed: 1 });
    // The simulated learner's state after stage 0, then the rest from stage 1.
    const learner = simulatedLearner();
    await learner.trainStage(makeTasks()[0].train, 0, "sentiment");
    const rest = await runContinual({
      learner,
      tasks: makeTasks(),
      strategy: "none",
      seed: 1,
      startStage: 1,
      previousScores: [full.scores[0]],
    });
    expect(rest.scores).toEqual(full.scores);
    const ends = await runContinual({
      learner: simulatedLearner(),
      tasks: makeTasks(),
      strategy: "none",
      seed: 1,
      evaluation: "diagonal-and-final",
    });
    expect(ends.scores[2][0]).toBeNaN();
    expect(ends.scores[2][2]).toBe(full.scores[2][2]);
    expect(ends.scores[3]).toEqual(full.scores[3]);
    expect(ends.metrics.relativeGain[3]).toBeCloseTo(full.metrics.relativeGain[3], 12);
    expect(ends.metrics.bwt).toBeCloseTo(full.metrics.bwt, 12);
    expect(ends.metrics.forgetting[0]).toBeNaN();
    await expect(
      runContinual({
        learner: simulatedLearner(),
        tasks: makeTasks(),
        strategy: "none",
        startStage: 2,
        previousScores: [[1]],
      }),
    ).rejects.toThrow(/startStage 2 needs 2 rows of previousScores, got 1/);
  });

  it("rejects malformed tasks and learners with clear messages", async () => {
    const tasks = makeTasks();
    await expect(runContinual({ learner: {} as ContinualLearner<Item>, tasks, strategy: "none" })).rejects.toThrow(
      /learner must have/,
    );
    await expect(runContinual({ tasks, strategy: "none" })).rejects.toThrow(/learner must have/);
    await expect(
      runContinual({ learner: simulatedLearner(), model: {} as never, tasks, strategy: "none" }),
    ).rejects.toThrow(/either learner or model, not both/);
    await expect(runContinual({ learner: simulatedLearner(), tasks: [], strategy: "none" })).rejects.toThrow(
      /non-empty/,
    );
    await expect(
      runContinual({
        learner: simulatedLearner(),
        tasks: [tasks[0], { ...tasks[1], name: tasks[0].name }],
        strategy: "none",
      }),
    ).rejects.toThrow(/"sentiment" is used twice/);
    await expect(
      runContinual({ learner: simulatedLearner(), tasks: [{ ...tasks[0], test: [] }], strategy: "none" }),
    ).rejects.toThrow(/has no test instances/);
    const broken = { ...simulatedLearner(), evaluate: async () => Number.NaN };
    await expect(runContinual({ learner: broken, tasks, strategy: "none" })).rejects.toThrow(
      /returned NaN for task "sentiment"/,
    );
  });
});
