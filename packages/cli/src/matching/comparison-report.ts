// How a selector comparison is shown: the JSON every number goes to (`match compare --json`, the
// demo's `matching`) and the text tables printed to the terminal. Scores are ROUGE-L ×100.
import type { ComparisonResult, Interval } from "@pillow/rl";

const scale = (value: number) => 100 * value;
const interval100 = (interval: Interval) => ({
  mean: scale(interval.mean),
  low: scale(interval.low),
  high: scale(interval.high),
});

export type ComparisonJson = ReturnType<typeof comparisonJson>;

export function comparisonJson(result: ComparisonResult) {
  const selectors = Object.fromEntries(
    result.summary.map((row) => [
      row.selector,
      {
        mean: scale(row.mean),
        interval: { low: scale(row.interval.low), high: scale(row.interval.high) },
        standardDeviationOverSeeds: scale(row.standardDeviation),
        perSeed: row.perSeed.map(scale),
        meanDemos: row.meanDemos,
        byKind: Object.fromEntries(
          Object.entries(row.byKind).map(([kind, entry]) => [
            kind,
            { count: entry.count, mean: scale(entry.mean), meanDemos: entry.meanDemos },
          ]),
        ),
      },
    ]),
  );
  return {
    metric: "ROUGE-L F1 x100 of the greedy answer",
    selectors,
    bestBaseline: result.bestBaseline,
    pillowMinusBestBaseline: {
      ...interval100(result.difference),
      perSeed: result.difference.perSeed.map(scale),
      byKind: Object.fromEntries(
        Object.entries(result.difference.byKind).map(([kind, entry]) => [kind, interval100(entry)]),
      ),
    },
    kinds: result.kinds,
    validationBaselines:
      result.validationBaselines &&
      Object.fromEntries(Object.entries(result.validationBaselines).map(([name, value]) => [name, scale(value)])),
    perSeed: result.perSeed.map((run) => ({
      seed: run.seed,
      test: Object.fromEntries(run.evaluations.map((entry) => [entry.selector, scale(entry.meanReward)])),
      warmStart: run.warmStart && {
        teacher: run.warmStart.teacher,
        teacherChoices: run.warmStart.teacherChoices,
        agreement: run.warmStart.agreement,
        finalLoss: run.warmStart.epochs.at(-1)?.loss,
        seconds: run.warmStart.seconds,
      },
      validationCurve: run.validationCurve.map((point) => ({ step: point.step, score: scale(point.score) })),
      keptStep: run.keptStep,
      rewardPerStep: run.training.steps.map((step) => step.meanReward),
      trainingLlmCalls: run.training.llmCalls,
      trainingCacheHits: run.training.cacheHits,
      trainingSeconds: run.training.seconds,
    })),
    llmCalls: result.llmCalls,
    cacheHits: result.cacheHits,
    trainingSeconds: result.trainingSeconds,
    seconds: result.seconds,
  };
}

const fixed = (value: number) => value.toFixed(1);
const signed = (value: number) => `${value >= 0 ? "+" : ""}${value.toFixed(1)}`;

/** One line: what the comparison found. */
export function comparisonVerdict(result: ComparisonResult): string {
  const d = interval100(result.difference);
  const where = d.low > 0 ? "above" : d.high < 0 ? "below" : "not distinguishable from";
  return `PILLOW ${signed(d.mean)} ROUGE-L vs the best fixed selector (${result.bestBaseline}), 95 % interval [${signed(d.low)}, ${signed(d.high)}]: ${where} it`;
}

export function comparisonTables(result: ComparisonResult): string {
  const lines: string[] = [];
  lines.push("| selector | ROUGE-L ×100 | 95 % interval | per seed | demos |", "| --- | --- | --- | --- | --- |");
  for (const row of result.summary) {
    lines.push(
      `| ${row.selector} | ${fixed(scale(row.mean))} | [${fixed(scale(row.interval.low))}, ${fixed(scale(row.interval.high))}] | ${row.perSeed.map((value) => fixed(scale(value))).join(" / ")} | ${row.meanDemos.toFixed(2)} |`,
    );
  }
  if (result.kinds.length > 0) {
    const counts = result.kinds.map((kind) => `${kind} (${result.summary[0].byKind[kind].count})`);
    lines.push("", `| selector | ${counts.join(" | ")} |`, `| --- |${result.kinds.map(() => " --- |").join("")}`);
    for (const row of result.summary) {
      lines.push(
        `| ${row.selector} | ${result.kinds.map((kind) => `${fixed(scale(row.byKind[kind].mean))} (${row.byKind[kind].meanDemos.toFixed(1)} demos)`).join(" | ")} |`,
      );
    }
    lines.push(
      `| PILLOW − ${result.bestBaseline} | ${result.kinds
        .map((kind) => {
          const d = interval100(result.difference.byKind[kind]);
          return `${signed(d.mean)} [${signed(d.low)}, ${signed(d.high)}]`;
        })
        .join(" | ")} |`,
    );
  }
  lines.push("", comparisonVerdict(result));
  lines.push(
    `per seed: ${result.difference.perSeed.map((value) => signed(scale(value))).join(" / ")}; LLM calls ${result.llmCalls}, cache hits ${result.cacheHits}; training ${result.trainingSeconds.toFixed(0)} s, total ${result.seconds.toFixed(0)} s`,
  );
  return lines.join("\n");
}
