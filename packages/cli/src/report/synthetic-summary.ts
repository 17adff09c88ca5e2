// A plausible demo summary with known numbers, for report tests (and `pillow report --example`-style
// previews): R is lower-triangular, AP/RG/BWT/forgetting follow from it by their definitions.
import type { DemoSummary, StrategySummary } from "./summary.js";

function strategy(tasks: number, forgetRate: number, seed: number): StrategySummary {
  const scores: number[][] = [];
  for (let stage = 0; stage < tasks; stage++) {
    const row: number[] = [];
    for (let task = 0; task <= stage; task++) {
      const learned = 60 + ((task * 7 + seed) % 25);
      row.push(Math.max(0, learned - forgetRate * (stage - task)));
    }
    scores.push(row);
  }
  const ap = scores.map((row) => row.reduce((sum, score) => sum + score, 0) / row.length);
  const relativeGain = scores.slice(1).map((row, index) => {
    const stage = index + 1;
    const ratios = row.slice(0, stage).map((score, task) => (score / scores[task][task]) * 100);
    return ratios.reduce((sum, ratio) => sum + ratio, 0) / ratios.length;
  });
  const last = scores[tasks - 1];
  const earlier = last.slice(0, -1);
  const bwt = earlier.reduce((sum, score, task) => sum + score - scores[task][task], 0) / earlier.length;
  const forgetting =
    earlier.reduce(
      (sum, score, task) => sum + Math.max(...scores.slice(task, tasks - 1).map((row) => row[task])) - score,
      0,
    ) / earlier.length;
  const losses = scores.map((_, stage) => Array.from({ length: 12 }, (_, step) => 3 / (1 + step * 0.3) + 0.1 * stage));
  return {
    scores,
    ap,
    relativeGain,
    bwt,
    forgetting,
    losses,
    replayed: scores.map((_, stage) => stage * 8),
    seconds: 20 + seed,
  };
}

function selector(mean: number, meanDemos: number) {
  return {
    mean,
    low: mean - 6,
    high: mean + 6,
    meanDemos,
    byKind: { specific: mean + 10, unseen: mean - 5, vague: mean - 8 },
  };
}

export function syntheticSummary(taskNames = ["capitals", "plurals", "numbers", "sentiment"]): DemoSummary {
  return {
    model: "tiny-llama (synthetic)",
    tasks: taskNames,
    quick: true,
    continual: {
      none: strategy(taskNames.length, 12, 1),
      random: strategy(taskNames.length, 6, 2),
      inscl: strategy(taskNames.length, 3, 3),
    },
    matching: {
      selectors: {
        none: selector(21.5, 0),
        random: selector(30.25, 3),
        bm25: selector(35.5, 3),
        knn: selector(38, 3),
        pillow: selector(42.75, 1.5),
      },
      bestBaseline: "knn",
      difference: { mean: 4.75, low: 1.5, high: 8 },
      kinds: ["specific", "unseen", "vague"],
      kindCounts: { specific: 18, unseen: 12, vague: 10 },
      verdict: "PILLOW +4.8 ROUGE-L vs the best fixed selector (knn), 95 % interval [+1.5, +8.0]: above it",
    },
    matcher: { rewards: [-0.9, -0.8, -0.7, -0.65, -0.6, -0.55], queries: 40, poolSize: 64, reward: "loglik" },
    phases: { continual: 60, matcher: 20, evaluation: 10 },
    seconds: 90,
  };
}
