// The compare table: per strategy the mean final AP / RG / BWT / forgetting over the (order, seed)
// cells, and each strategy minus the baseline paired per cell with a bootstrap 95 % interval.
import { bootstrapInterval, type Interval } from "@pillow/core";
import type { ReplayStrategy } from "../planning/replay-plan.js";
import type { CompareRun } from "./compare-strategies.js";

/** A paired difference over (order, seed) cells: its mean, bootstrap 95 % interval and the cell count. */
export type PairedInterval = Interval & { pairs: number };

export type StrategySummary = {
  strategy: ReplayStrategy;
  cells: number;
  ap: number;
  relativeGain: number;
  bwt: number;
  /** Mean forgetting over the runs with a full R (null when none has one). */
  forgetting: number | null;
  /** Per order: mean final RG and AP over its seeds. */
  perOrder: Record<string, { relativeGain: number; ap: number; cells: number }>;
  /** Minus the baseline, paired per (order, seed) cell both finished (absent for the baseline). */
  versusBaseline?: { relativeGain: PairedInterval; ap: PairedInterval; bwt: PairedInterval };
  /** Mean seconds per run, and of that the look-ahead (interference). */
  seconds: number;
  lookAheadSeconds: number;
  trainSeconds: number;
};

export type CompareSummary = {
  baseline: ReplayStrategy;
  strategies: StrategySummary[];
  cells: { order: string; seed: number }[];
};

/** Mean of the finite values (RG is NaN in a run whose every R[j][j] is 0). */
const mean = (values: number[]) => {
  const finite = values.filter(Number.isFinite);
  return finite.length === 0 ? Number.NaN : finite.reduce((sum, value) => sum + value, 0) / finite.length;
};
const cellKey = (run: { order: string; seed: number }) => `${run.order}\u0000${run.seed}`;

export function summariseCompare(
  runs: readonly CompareRun[],
  strategies: readonly ReplayStrategy[],
  baseline: ReplayStrategy = "random",
): CompareSummary {
  const byStrategy = new Map<ReplayStrategy, Map<string, CompareRun>>();
  for (const run of runs) {
    const cells = byStrategy.get(run.strategy) ?? new Map<string, CompareRun>();
    if (cells.has(cellKey(run)))
      throw new RangeError(`summariseCompare: two runs of ${run.strategy} on order ${run.order}, seed ${run.seed}`);
    cells.set(cellKey(run), run);
    byStrategy.set(run.strategy, cells);
  }
  const cellList = new Map<string, { order: string; seed: number }>();
  for (const run of runs) cellList.set(cellKey(run), { order: run.order, seed: run.seed });
  const baselineRuns = byStrategy.get(baseline);
  const summaries: StrategySummary[] = [];
  for (const strategy of strategies) {
    const cells = [...(byStrategy.get(strategy)?.values() ?? [])];
    if (cells.length === 0) continue;
    const perOrder: StrategySummary["perOrder"] = {};
    for (const order of [...new Set(cells.map((run) => run.order))]) {
      const ofOrder = cells.filter((run) => run.order === order);
      perOrder[order] = {
        relativeGain: mean(ofOrder.map((run) => run.final.relativeGain)),
        ap: mean(ofOrder.map((run) => run.final.ap)),
        cells: ofOrder.length,
      };
    }
    const forgetting = cells.map((run) => run.final.forgetting).filter((value): value is number => value !== null);
    const summary: StrategySummary = {
      strategy,
      cells: cells.length,
      ap: mean(cells.map((run) => run.final.ap)),
      relativeGain: mean(cells.map((run) => run.final.relativeGain)),
      bwt: mean(cells.map((run) => run.final.bwt)),
      forgetting: forgetting.length > 0 ? mean(forgetting) : null,
      perOrder,
      seconds: mean(cells.map((run) => run.seconds)),
      lookAheadSeconds: mean(cells.map((run) => run.stageSeconds.reduce((sum, stage) => sum + stage.lookAhead, 0))),
      trainSeconds: mean(cells.map((run) => run.stageSeconds.reduce((sum, stage) => sum + stage.train, 0))),
    };
    if (strategy !== baseline && baselineRuns) {
      const paired = cells.filter((run) => baselineRuns.has(cellKey(run)));
      if (paired.length > 0) {
        // Cells where a metric is undefined for either side (NaN) are left out of that metric's pairs.
        const difference = (field: "relativeGain" | "ap" | "bwt") => {
          const values = paired
            .map((run) => run.final[field] - baselineRuns.get(cellKey(run))!.final[field])
            .filter(Number.isFinite);
          return values.length > 0 ? { ...bootstrapInterval(values, { seed: 0 }), pairs: values.length } : undefined;
        };
        const relativeGain = difference("relativeGain");
        const ap = difference("ap");
        const bwt = difference("bwt");
        if (relativeGain && ap && bwt) summary.versusBaseline = { relativeGain, ap, bwt };
      }
    }
    summaries.push(summary);
  }
  return { baseline, strategies: summaries, cells: [...cellList.values()] };
}

const fixed = (value: number | null | undefined, digits = 1) =>
  value === null || value === undefined || !Number.isFinite(value) ? "—" : value.toFixed(digits);
const interval = (value: PairedInterval | undefined) =>
  value
    ? `${value.mean >= 0 ? "+" : ""}${value.mean.toFixed(1)} [${value.low.toFixed(1)}, ${value.high.toFixed(1)}]`
    : "—";

/** The table as Markdown: one row per strategy, differences to the baseline with their intervals. */
export function compareTableMarkdown(summary: CompareSummary): string {
  const b = summary.baseline;
  const lines = [
    `| strategy | cells | AP (final) | RG (final) | BWT | forgetting | RG − ${b} [95 % CI] | AP − ${b} [95 % CI] | s / run | look-ahead s / run |`,
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const row of summary.strategies) {
    lines.push(
      `| ${row.strategy} | ${row.cells} | ${fixed(row.ap)} | ${fixed(row.relativeGain)} | ${fixed(row.bwt)} | ${fixed(row.forgetting)} | ${interval(row.versusBaseline?.relativeGain)} | ${interval(row.versusBaseline?.ap)} | ${fixed(row.seconds, 0)} | ${row.lookAheadSeconds > 0 ? `${row.lookAheadSeconds.toFixed(0)} (${((100 * row.lookAheadSeconds) / row.trainSeconds).toFixed(0)} % of training)` : "—"} |`,
    );
  }
  return lines.join("\n");
}

/** Mean R over the runs of one strategy on one order (same task order, several seeds); null entries skipped. */
export function meanScores(runs: readonly CompareRun[], strategy: ReplayStrategy, order: string): number[][] | null {
  const chosen = runs.filter((run) => run.strategy === strategy && run.order === order);
  if (chosen.length === 0) return null;
  return chosen[0].scores.map((row, i) =>
    row.map((_, j) => {
      const values = chosen.map((run) => run.scores[i][j]).filter((value): value is number => value !== null);
      return values.length > 0 ? mean(values) : Number.NaN;
    }),
  );
}
