import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { allocateReplay } from "./allocate-replay.js";
import { allocateWithFloor } from "./allocate-with-floor.js";
import { insInfo, normaliseWithinTask } from "./instruction-information.js";
import {
  type ContinualTask,
  defaultDirectedShare,
  defaultSharedInstructions,
  groupByInstruction,
  planReplay,
  selectByInformation,
  withoutInstructions,
} from "./replay-plan.js";
import { createRandom } from "../random.js";

/** Hand-made tags for every instruction of the tasks' training splits (what the taggers would produce). */
function instructionTagsOf(
  tasks: readonly { train: readonly { instruction: string }[] }[],
  tagsOf: (instruction: string) => string[],
): Map<string, string[]> {
  return new Map(
    tasks.flatMap((task) => task.train.map((instance) => [instance.instruction, tagsOf(instance.instruction)])),
  );
}

describe("allocateReplay (hand-computed)", () => {
  it("floors the shares and gives the remainder to the largest weights", () => {
    // w = 1/6, 2/6, 3/6 of 10 → 1.67, 3.33, 5 → 1, 3, 5 (+1 to the largest).
    expect(allocateReplay([1, 2, 3], 10)).toEqual([1, 3, 6]);
    // w = .25, .25, .5 of 7 → 1.75, 1.75, 3.5 → 1, 1, 3; remainder 2: task 2, then task 0 (tie → earlier).
    expect(allocateReplay([1, 1, 2], 7)).toEqual([2, 1, 4]);
    expect(allocateReplay([0.3, 0.1, 0.6], 200)).toEqual([60, 20, 120]);
    expect(allocateReplay([5], 7)).toEqual([7]);
    expect(allocateReplay([2, 3], 0)).toEqual([0, 0]);
    expect(allocateReplay([], 0)).toEqual([]);
  });
  it("splits uniformly when every distance is zero, ties to the earlier task", () => {
    expect(allocateReplay([0, 0, 0, 0], 10)).toEqual([3, 3, 2, 2]);
  });
  it("always sums to the budget", () => {
    const random = createRandom(1);
    for (let trial = 0; trial < 200; trial++) {
      const distances = Array.from(
        { length: 1 + random.integer(15) },
        () => random.next() * (random.next() < 0.1 ? 0 : 1),
      );
      const budget = random.integer(3000);
      const counts = allocateReplay(distances, budget);
      expect(counts.reduce((s, c) => s + c, 0)).toBe(budget);
      for (const c of counts) expect(c).toBeGreaterThanOrEqual(0);
    }
  });
  it("rejects bad input with the offending argument named", () => {
    expect(() => allocateReplay([1, -1], 10)).toThrow(/distances\[1\] is -1/);
    expect(() => allocateReplay([1, Number.NaN], 10)).toThrow(/distances\[1\] is NaN/);
    expect(() => allocateReplay([1], 2.5)).toThrow(/budget must be an integer/);
    expect(() => allocateReplay([], 3)).toThrow(/needs at least one earlier task/);
  });
});

describe("insInfo (hand-computed)", () => {
  it("sums ln(N / f_tag) over an instruction's distinct tags", () => {
    const scores = insInfo([["a", "b"], ["a"], ["c", "c"], []]);
    expect(scores[0]).toBeCloseTo(Math.log(4 / 2) + Math.log(4 / 1), 14);
    expect(scores[1]).toBeCloseTo(Math.log(2), 14);
    expect(scores[2]).toBeCloseTo(Math.log(4), 14);
    expect(scores[3]).toBe(0);
    expect(insInfo([["x"], ["x"]])).toEqual([0, 0]);
  });
  it("normalises within a task", () => {
    expect(normaliseWithinTask([1, 3])).toEqual([0.25, 0.75]);
    expect(normaliseWithinTask([0, 0])).toEqual([0.5, 0.5]);
  });
});

type Item = { instruction: string; output: string; id: string };
function makeTask(name: string, instructionCounts: number[]): ContinualTask<Item> {
  const train: Item[] = [];
  instructionCounts.forEach((count, k) => {
    for (let c = 0; c < count; c++)
      train.push({ instruction: `${name} instruction ${k}`, output: "o", id: `${name}/${k}/${c}` });
  });
  return { name, train, test: train.slice(0, 2) };
}

describe("selectByInformation", () => {
  const groups = groupByInstruction(makeTask("t", [10, 10, 10, 10]).train);
  it("takes the top-n instructions, one instance each, when n < #instructions", () => {
    const chosen = selectByInformation(groups, [0.1, 0.4, 0.2, 0.3], 2, createRandom(3));
    expect(chosen.map((item) => item.instruction)).toEqual(["t instruction 1", "t instruction 3"]);
  });
  it("gives max(1, ⌊rate·n⌋) per instruction, never below one, and hits n exactly", () => {
    for (const count of [4, 5, 9, 17, 33, 40]) {
      const chosen = selectByInformation(groups, [0.01, 0.6, 0.09, 0.3], count, createRandom(count));
      expect(chosen.length).toBe(count);
      const perInstruction = groupByInstruction(chosen).map((group) => group.instances.length);
      expect(perInstruction.length).toBe(4);
      for (const value of perInstruction) expect(value).toBeGreaterThanOrEqual(1);
      expect(new Set(chosen.map((item) => item.id)).size).toBe(count);
    }
    // n = 20: ⌊0.6·20⌋ = 12, ⌊0.3·20⌋ = 6, ⌊0.09·20⌋ = 1, max(1, 0) = 1 → exactly 20, no fill.
    const chosen = selectByInformation(groups, [0.01, 0.6, 0.09, 0.3], 20, createRandom(1));
    const counts = new Map(groupByInstruction(chosen).map((group) => [group.instruction, group.instances.length]));
    expect(counts.get("t instruction 1")).toBe(10); // capped at the 10 instances it has, the rest filled
    expect(chosen.length).toBe(20);
  });
});

describe("planReplay", () => {
  const tasks = [
    makeTask("a", [30, 10, 5]),
    makeTask("b", [20, 20]),
    makeTask("c", [8, 8, 8, 8, 8]),
    makeTask("d", [50]),
  ];
  const tags = new Map<string, string[]>();
  for (const task of tasks) {
    groupByInstruction(task.train).forEach((group, k) => {
      tags.set(group.instruction, k === 0 ? ["common"] : ["common", `rare ${task.name}${k}`]);
    });
  }
  const distances = [0.5, 0.2, 0.3];
  for (const strategy of ["random", "uniform", "inscl-dynamic", "inscl"] as const) {
    it(`${strategy}: sums to R = replayPerTask·stage, deterministic by seed`, () => {
      const plan = planReplay({
        stage: 3,
        tasks,
        strategy,
        replayPerTask: 20,
        seed: 9,
        distances,
        instructionTags: tags,
      });
      expect(plan.budget).toBe(60);
      expect(plan.instances.length).toBe(60);
      expect(plan.perTask.reduce((s, t) => s + t.count, 0)).toBe(60);
      const again = planReplay({
        stage: 3,
        tasks,
        strategy,
        replayPerTask: 20,
        seed: 9,
        distances,
        instructionTags: tags,
      });
      expect(again.instances.map((item) => item.id)).toEqual(plan.instances.map((item) => item.id));
      const other = planReplay({
        stage: 3,
        tasks,
        strategy,
        replayPerTask: 20,
        seed: 10,
        distances,
        instructionTags: tags,
      });
      expect(other.instances.map((item) => item.id)).not.toEqual(plan.instances.map((item) => item.id));
      // Only earlier tasks are replayed, never the current one, and no instance twice.
      expect(plan.instances.every((item) => !item.id.startsWith("d/"))).toBe(true);
      expect(new Set(plan.instances.map((item) => item.id)).size).toBe(60);
    });
  }
  it("per-task counts follow the distances (inscl, inscl-dynamic) or are equal (uniform)", () => {
    const dynamic = planReplay({ stage: 3, tasks, strategy: "inscl-dynamic", replayPerTask: 20, seed: 1, distances });
    expect(dynamic.perTask.map((t) => t.count)).toEqual([30, 12, 18]);
    expect(dynamic.perTask.map((t) => t.distance)).toEqual(distances);
    const uniform = planReplay({ stage: 3, tasks, strategy: "uniform", replayPerTask: 20, seed: 1 });
    expect(uniform.perTask.map((t) => t.count)).toEqual([20, 20, 20]);
    const inscl = planReplay({
      stage: 3,
      tasks,
      strategy: "inscl",
      replayPerTask: 20,
      seed: 1,
      distances,
      instructionTags: tags,
    });
    expect(inscl.perTask.map((t) => t.count)).toEqual([30, 12, 18]);
    // Every instruction of each replayed task keeps at least one instance (n_j ≥ #instructions here).
    inscl.perTask.forEach((entry, j) => {
      expect(groupByInstruction(entry.instances).length).toBe(groupByInstruction(tasks[j].train).length);
    });
  });
  it("inscl favours informative instructions when the count is below #instructions", () => {
    const plan = planReplay({
      stage: 3,
      tasks,
      strategy: "inscl",
      replayPerTask: 1,
      seed: 2,
      distances,
      instructionTags: tags,
    });
    // Budget 3 → counts [2, 0, 1] (1.5, 0.6, 0.9 floored to 1, 0, 0; remainder to tasks a then c).
    expect(plan.perTask.map((t) => t.count)).toEqual([2, 0, 1]);
    // Task a: instruction 0 has only the common tag (InsInfo 0); 1 and 2 carry rare tags.
    expect(plan.perTask[0].instances.map((item) => item.instruction).sort()).toEqual([
      "a instruction 1",
      "a instruction 2",
    ]);
    expect(plan.perTask[2].instances[0].instruction).not.toBe("c instruction 0");
  });
  it("caps counts at a task's size and hands the excess on", () => {
    const small = [makeTask("s", [3]), makeTask("t", [100]), makeTask("u", [1])];
    const plan = planReplay({
      stage: 2,
      tasks: small,
      strategy: "inscl-dynamic",
      replayPerTask: 10,
      seed: 4,
      distances: [0.9, 0.1],
    });
    expect(plan.perTask.map((t) => t.count)).toEqual([3, 17]);
  });
  it("none and stage 0 replay nothing; bad options are named", () => {
    expect(planReplay({ stage: 2, tasks, strategy: "none", replayPerTask: 20, seed: 1 }).instances).toEqual([]);
    expect(planReplay({ stage: 0, tasks, strategy: "inscl", replayPerTask: 20, seed: 1 }).instances).toEqual([]);
    expect(() => planReplay({ stage: 2, tasks, strategy: "inscl", replayPerTask: 20, seed: 1 })).toThrow(
      /needs 2 task distances/,
    );
    expect(() => planReplay({ stage: 9, tasks, strategy: "random", replayPerTask: 20, seed: 1 })).toThrow(
      /stage must be/,
    );
    expect(() => planReplay({ stage: 1, tasks, strategy: "bogus" as "none", replayPerTask: 20, seed: 1 })).toThrow(
      /strategy must be one of/,
    );
  });
});

describe("allocateReplay properties (fast-check)", () => {
  it("sums to the budget and is monotone in the distance", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 10, noNaN: true }), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 0, max: 5000 }),
        (distances, budget) => {
          const counts = allocateReplay(distances, budget);
          expect(counts.reduce((sum, count) => sum + count, 0)).toBe(budget);
          for (let x = 0; x < distances.length; x++) {
            for (let y = 0; y < distances.length; y++) {
              // A more distant task never gets less replay than a closer one.
              if (distances[x] > distances[y]) expect(counts[x]).toBeGreaterThanOrEqual(counts[y]);
            }
          }
        },
      ),
      { numRuns: 300, seed: 42 },
    );
  });
});

describe("allocateWithFloor (hand-computed)", () => {
  it("gives each task the floor, then the rest ∝ the positive increases", () => {
    // floor ⌊0.25·30/3⌋ = 2; the other 24 ∝ [3, 1, 0] → [18, 6, 0].
    expect(allocateWithFloor([3, 1, 0], 30, 0.25)).toEqual([20, 8, 2]);
    // floor ⌊0.25·10/3⌋ = 0 → raised to 1; 7 split equally → ⌊7/3⌋ = 2 each, remainder 1 to the first.
    expect(allocateWithFloor([1, 1, 1], 10, 0.25)).toEqual([4, 3, 3]);
    // A negative increase counts as 0: floor 1 each, the other 8 all to the second task.
    expect(allocateWithFloor([-1, 2], 10, 0.25)).toEqual([1, 9]);
    // No positive increase at all: the equal split.
    expect(allocateWithFloor([-1, -2, 0], 9, 0.25)).toEqual([3, 3, 3]);
    // Remainders go to the largest increases: floor 2 each (⌊0.5·12/3⌋), 6 ∝ [1, 1, 2] → [1, 1, 3] + 1 to the largest.
    expect(allocateWithFloor([1, 1, 2], 12, 0.5)).toEqual([3, 3, 6]);
    // floorShare 1: everything is the floor (the uniform split), whatever was measured.
    expect(allocateWithFloor([5, 0], 10, 1)).toEqual([5, 5]);
    // A budget below the number of tasks: no floor, ⌊w·R⌋ and the remainder to the largest.
    expect(allocateWithFloor([1, 2, 3], 2, 0.25)).toEqual([0, 0, 2]);
    expect(allocateWithFloor([], 0, 0.25)).toEqual([]);
  });

  it("caps each task and splits the excess again over the tasks below the cap", () => {
    // floor 2 each, 24 ∝ [3, 1, 0] → [20, 8, 2]; cap max(12, ⌈30/3⌉) = 12: task 0 keeps 12, its 8
    // go ∝ [1, 0] to task 1 (16 → 12), whose 4 go to task 2 (the only one left): [12, 12, 6].
    expect(allocateWithFloor([3, 1, 0], 30, 0.25, 12)).toEqual([12, 12, 6]);
    // A cap below the equal share is raised to it (⌈10/2⌉ = 5), so the whole budget is placed.
    expect(allocateWithFloor([5, 0], 10, 0.25, 2)).toEqual([5, 5]);
    // A cap nothing reaches changes nothing.
    expect(allocateWithFloor([3, 1, 0], 30, 0.25, 100)).toEqual([20, 8, 2]);
    // Remainders first, then the cap: floor 2, 6 ∝ [1, 1, 2] → [1, 1, 4] → [3, 3, 6]; cap 4 leaves 2,
    // split equally over tasks 0 and 1 (equal increases): [4, 4, 4].
    expect(allocateWithFloor([1, 1, 2], 12, 0.5, 4)).toEqual([4, 4, 4]);
    const random = createRandom(3);
    for (let trial = 0; trial < 200; trial++) {
      const increases = Array.from({ length: 1 + random.integer(15) }, () => random.next() - 0.3);
      const budget = random.integer(300);
      const cap = random.integer(40);
      const counts = allocateWithFloor(increases, budget, 0.25, cap);
      expect(counts.reduce((sum, value) => sum + value, 0)).toBe(budget);
      for (const value of counts)
        expect(value).toBeLessThanOrEqual(Math.max(cap, Math.ceil(budget / increases.length)));
    }
  });

  it("splits at most directedLimit by increase, the rest equally with the floor", () => {
    // floor 2 each, rest 24; directedLimit 6: 18 split equally [6, 6, 6] → [8, 8, 8], then 6 ∝ [3, 1, 0]:
    // ⌊4.5⌋ = 4, ⌊1.5⌋ = 1, 0, the remainder 1 to the largest increase → [5, 1, 0].
    expect(allocateWithFloor([3, 1, 0], 30, 0.25, undefined, 6)).toEqual([13, 9, 8]);
    // A limit at least the rest changes nothing; limit 0 is the uniform split.
    expect(allocateWithFloor([3, 1, 0], 30, 0.25, undefined, 24)).toEqual([20, 8, 2]);
    expect(allocateWithFloor([3, 1, 0], 30, 0.25, undefined, 0)).toEqual([10, 10, 10]);
    expect(() => allocateWithFloor([1], 4, 0.25, undefined, -1)).toThrow(
      /directedLimit must be an integer ≥ 0, got -1/,
    );
  });

  it("planReplay interference: directedShare bounds the directed part by the current task's size (default 1, null = no limit)", () => {
    const make = (name: string, count: number) => ({
      name,
      train: Array.from({ length: count }, (_, k) => ({
        instruction: `${name} instruction ${k % 2}`,
        output: `${name} ${k}`,
      })),
      test: [{ instruction: `${name} instruction 0`, output: "t" }],
    });
    const tasks = [make("a", 40), make("b", 40), make("c", 40), make("current", 6)];
    const instructionTags = instructionTagsOf(tasks, (instruction) => [instruction.split(" ")[0]]);
    const counts = (directedShare?: number | null) =>
      planReplay({
        stage: 3,
        tasks,
        strategy: "interference",
        replayPerTask: 10,
        seed: 3,
        increases: [3, 1, 0],
        instructionTags,
        floorShare: 0.25,
        directedShare,
      }).perTask.map((entry) => entry.count);
    // Budget 30, floor ⌊0.25·30/3⌋ = 2 each, rest 24. Default (1 · 6 = 6 directed): as allocateWithFloor's limit 6 above.
    expect(defaultDirectedShare).toBe(1);
    expect(counts()).toEqual([13, 9, 8]);
    expect(counts(1)).toEqual([13, 9, 8]);
    // No limit: all 24 by increase. 0.5 · 6 = 3 directed: 21 equally [7, 7, 7] + 2 → [9, 9, 9], 3 ∝ [3, 1, 0]:
    // ⌊2.25⌋ = 2, ⌊0.75⌋ = 0, the remainder 1 to the largest → [3, 0, 0].
    expect(counts(null)).toEqual([20, 8, 2]);
    expect(counts(0.5)).toEqual([12, 9, 9]);
    expect(() => counts(-1)).toThrow(/directedShare must be a finite number ≥ 0 or null/);
  });

  it("rejects bad input", () => {
    expect(() => allocateWithFloor([1], 4, 0.25, -1)).toThrow(/cap must be an integer ≥ 0, got -1/);
    expect(() => allocateWithFloor([1], 4, 0.25, 1.5)).toThrow(/cap must be an integer ≥ 0, got 1.5/);
    expect(() => allocateWithFloor([1, Number.NaN], 4, 0.25)).toThrow(/increases\[1\] is NaN/);
    expect(() => allocateWithFloor([1], -1, 0.25)).toThrow(/budget must be an integer/);
    expect(() => allocateWithFloor([1], 4, 1.5)).toThrow(/floorShare must be in \[0, 1\]/);
  });

  it("planReplay interference: a task smaller than its share hands the excess on, InsInfo within each task", () => {
    const make = (name: string, count: number) => ({
      name,
      train: Array.from({ length: count }, (_, k) => ({
        instruction: `${name} instruction ${k % 2}`,
        output: `${name} ${k}`,
      })),
      test: [{ instruction: `${name} instruction 0`, output: "t" }],
    });
    const tasks = [make("small", 2), make("large", 30), make("current", 5)];
    const instructionTags = instructionTagsOf(tasks, (instruction) => [instruction.split(" ")[0]]);
    // Budget 2·10 = 20: floor ⌊0.25·20/2⌋ = 2 each, 16 ∝ [10, 0] → [18, 2]; "small" holds 2, so 16 move to "large".
    const plan = planReplay({
      stage: 2,
      tasks,
      strategy: "interference",
      replayPerTask: 10,
      seed: 3,
      increases: [10, 0],
      instructionTags,
    });
    expect(plan.perTask.map((entry) => entry.count)).toEqual([2, 18]);
    expect(plan.perTask.map((entry) => entry.increase)).toEqual([10, 0]);
    expect(plan.perTask[0].instances.every((instance) => instance.instruction.startsWith("small"))).toBe(true);
    expect(plan.perTask[1].instances.every((instance) => instance.instruction.startsWith("large"))).toBe(true);
    expect(new Set(plan.perTask[1].instances).size).toBe(18);
    expect(() =>
      planReplay({ stage: 2, tasks, strategy: "interference", replayPerTask: 10, seed: 3, instructionTags }),
    ).toThrow(/needs 2 probe-loss increases, got none/);
  });
});

describe("shared instructions (an earlier task's instances whose instruction the current task uses)", () => {
  // Task "old" has 12 instances: 4 under its own instruction A, 8 under "vague", which the current
  // task also uses; "other" shares nothing.
  const old = {
    name: "old",
    train: Array.from({ length: 12 }, (_, k) => ({ instruction: k < 4 ? "old A" : "vague", output: `old ${k}` })),
    test: [{ instruction: "old A", output: "t" }],
  };
  const other = {
    name: "other",
    train: Array.from({ length: 6 }, (_, k) => ({ instruction: `other ${k % 3}`, output: `other ${k}` })),
    test: [{ instruction: "other 0", output: "t" }],
  };
  const current = {
    name: "current",
    train: Array.from({ length: 5 }, (_, k) => ({ instruction: k < 2 ? "vague" : "current B", output: `cur ${k}` })),
    test: [{ instruction: "current B", output: "t" }],
  };
  const tasks = [old, other, current];
  const instructionTags = instructionTagsOf(tasks, (instruction) => instruction.split(" "));

  it("withoutInstructions drops the excluded instructions, or keeps everything when nothing would be left", () => {
    expect(withoutInstructions(old.train, new Set(["vague"])).map((instance) => instance.output)).toEqual([
      "old 0",
      "old 1",
      "old 2",
      "old 3",
    ]);
    const allShared = withoutInstructions(old.train, new Set(["old A", "vague"]));
    expect(allShared.length).toBe(12);
    expect(defaultSharedInstructions).toBe("replay");
  });

  it('"skip" replays no shared instruction and caps a task at what is left; "replay" (default) may use them', () => {
    // Budget 2·5 = 10, no increase: floor 1 each, 3 beyond the directed limit (5) split [2, 1], the
    // 5 directed split equally [3, 2] (ties to the earlier task): [6, 4]. Under "skip" "old" holds 4
    // unshared instances, so its other 2 go to "other": [4, 6].
    const interference = (sharedInstructions?: "replay" | "skip") =>
      planReplay({
        stage: 2,
        tasks,
        strategy: "interference",
        replayPerTask: 5,
        seed: 1,
        increases: [0, 0],
        instructionTags,
        ...(sharedInstructions ? { sharedInstructions } : {}),
      });
    const skipped = interference("skip");
    expect(skipped.perTask.map((entry) => entry.count)).toEqual([4, 6]);
    expect(skipped.perTask[0].instances.map((instance) => instance.output).sort()).toEqual([
      "old 0",
      "old 1",
      "old 2",
      "old 3",
    ]);
    expect(skipped.instances.some((instance) => instance.instruction === "vague")).toBe(false);
    // "replay" (the default): [6, 4], and InsInfo keeps at least one instance of every instruction,
    // "vague" included.
    const replayed = interference();
    expect(replayed.perTask.map((entry) => entry.count)).toEqual([6, 4]);
    expect(replayed.perTask[0].instances.some((instance) => instance.instruction === "vague")).toBe(true);
    // The same choice for random: 10 from the pooled 4 + 6 unshared instances is all of them.
    const random = planReplay({
      stage: 2,
      tasks,
      strategy: "random",
      replayPerTask: 5,
      seed: 1,
      sharedInstructions: "skip",
    });
    expect(random.instances.length).toBe(10);
    expect(random.instances.some((instance) => instance.instruction === "vague")).toBe(false);
    expect(() =>
      planReplay({
        stage: 2,
        tasks,
        strategy: "random",
        replayPerTask: 5,
        seed: 1,
        sharedInstructions: "drop" as "skip",
      }),
    ).toThrow(/sharedInstructions must be one of replay, skip, got drop/);
  });
});
