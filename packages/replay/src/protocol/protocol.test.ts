import { describe, expect, it } from "vitest";
import type { CompareRun } from "./compare-strategies.js";
import { compareTableMarkdown, meanScores, summariseCompare } from "./compare-summary.js";
import { resolveOrders } from "./training-orders.js";

describe("resolveOrders", () => {
  const tasks = ["a", "b", "c", "d"];
  it("curriculum, reverse, seeded random permutations, explicit orders", () => {
    const orders = resolveOrders(["curriculum", "reverse", "random:2", "b>a>d>c"], tasks);
    expect(orders.map((order) => order.name)).toEqual(["curriculum", "reverse", "random-1", "random-2", "b>a>d>c"]);
    expect(orders[0].tasks).toEqual(tasks);
    expect(orders[1].tasks).toEqual(["d", "c", "b", "a"]);
    for (const order of orders) expect([...order.tasks].sort()).toEqual(tasks);
    // random-k depends on k only: random:1 is the first of random:2.
    expect(resolveOrders(["random:1"], tasks)[0].tasks).toEqual(orders[2].tasks);
    expect(orders[2].tasks).not.toEqual(orders[3].tasks);
  });
  it("rejects unknown orders, unknown or missing tasks, duplicates", () => {
    expect(() => resolveOrders(["sideways"], tasks)).toThrow(/unknown order "sideways"/);
    expect(() => resolveOrders(["a>b>c>e"], tasks)).toThrow(/names unknown task "e"/);
    expect(() => resolveOrders(["a>b>c"], tasks)).toThrow(/each of the 4 tasks exactly once/);
    expect(() => resolveOrders(["curriculum", "curriculum"], tasks)).toThrow(/"curriculum" is given twice/);
    expect(() => resolveOrders(["random:0"], tasks)).toThrow(/asks for no random order/);
    expect(() => resolveOrders(["curriculum"], ["a", "a"])).toThrow(/"a" is used twice/);
    expect(() => resolveOrders([], tasks)).toThrow(/at least one/);
  });
});

function run(strategy: "random" | "interference", order: string, seed: number, rg: number, ap: number): CompareRun {
  return {
    order,
    seed,
    strategy,
    tasks: ["a", "b"],
    scores: [[ap], [ap, ap]],
    final: { ap, relativeGain: rg, bwt: rg - 100, forgetting: seed === 0 ? 1 : null },
    plans: [],
    lookAheads: [],
    stageSeconds: [{ train: 2, evaluate: 1, lookAhead: strategy === "interference" ? 1 : 0 }],
    seconds: 3,
  };
}

describe("summariseCompare", () => {
  it("means over cells and paired differences per (order, seed)", () => {
    const runs = [
      run("random", "curriculum", 0, 80, 60),
      run("random", "curriculum", 1, 70, 50),
      run("interference", "curriculum", 0, 84, 61),
      run("interference", "curriculum", 1, 74, 51),
    ];
    const summary = summariseCompare(runs, ["random", "interference"]);
    const [random, interference] = summary.strategies;
    expect(random.relativeGain).toBe(75);
    expect(random.versusBaseline).toBeUndefined();
    // Both cells differ by exactly +4 RG and +1 AP: the interval is that point.
    expect(interference.versusBaseline!.relativeGain).toEqual({ mean: 4, low: 4, high: 4, pairs: 2 });
    expect(interference.versusBaseline!.ap).toEqual({ mean: 1, low: 1, high: 1, pairs: 2 });
    expect(interference.forgetting).toBe(1);
    expect(interference.lookAheadSeconds).toBe(1);
    expect(compareTableMarkdown(summary)).toContain(
      "| interference | 2 | 56.0 | 79.0 | -21.0 | 1.0 | +4.0 [4.0, 4.0] | +1.0 [1.0, 1.0] | 3 | 1 (50 % of training) |",
    );
    expect(meanScores(runs, "random", "curriculum")).toEqual([[55], [55, 55]]);
    expect(() => summariseCompare([...runs, runs[0]], ["random"])).toThrow(
      /two runs of random on order curriculum, seed 0/,
    );
  });
});
