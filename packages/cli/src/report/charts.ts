// The report's plots as vega-lite specs, rendered to SVG strings in Node (no browser, no canvas):
// vega-lite compiles to vega, vega renders headless with renderer "none".
import * as vega from "vega";
import * as vegaLite from "vega-lite";
import type { TopLevelSpec } from "vega-lite";
import type { DemoSummary } from "./summary.js";

export type Chart = { id: string; title: string; spec: TopLevelSpec };

const WIDTH = 460;
const HEIGHT = 260;

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Training loss per optimizer step, one line per stage, one chart per strategy. */
export function lossChart(strategy: string, losses: number[][], tasks: string[]): Chart {
  const values: { step: number; loss: number; stage: string }[] = [];
  let step = 0;
  losses.forEach((stageLosses, stage) => {
    for (const loss of stageLosses)
      values.push({ step: step++, loss, stage: `${stage + 1}. ${tasks[stage] ?? stage}` });
  });
  return {
    id: `loss-${strategy}`,
    title: `Training loss per stage — replay ${strategy}`,
    spec: {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      width: WIDTH,
      height: HEIGHT,
      data: { values },
      mark: { type: "line", strokeWidth: 1.5 },
      encoding: {
        x: { field: "step", type: "quantitative", title: "optimizer step" },
        y: { field: "loss", type: "quantitative", title: "training loss", scale: { zero: false } },
        color: { field: "stage", type: "nominal", title: "stage", sort: null },
      },
    },
  };
}

/** R[i][j] as a heat map: rows = after stage i, columns = task j; the diagonal is "just learned". */
export function forgettingHeatmap(strategy: string, scores: number[][], tasks: string[]): Chart {
  const values: { stage: string; task: string; score: number }[] = [];
  scores.forEach((row, stage) => {
    row.forEach((score, task) => {
      values.push({ stage: `after ${stage + 1}. ${tasks[stage]}`, task: `${task + 1}. ${tasks[task]}`, score });
    });
  });
  const order = (prefix: string) => tasks.map((task, index) => `${prefix}${index + 1}. ${task}`);
  const cell = Math.max(28, Math.min(60, Math.floor(WIDTH / Math.max(1, tasks.length))));
  return {
    id: `heatmap-${strategy}`,
    title: `Forgetting heat-map R[i][j] (ROUGE-L ×100) — replay ${strategy}`,
    spec: {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      width: cell * tasks.length,
      height: cell * tasks.length,
      data: { values },
      encoding: {
        x: { field: "task", type: "ordinal", title: "evaluated on task", sort: order("") },
        y: { field: "stage", type: "ordinal", title: "after training stage", sort: order("after ") },
      },
      layer: [
        {
          mark: "rect",
          encoding: {
            color: {
              field: "score",
              type: "quantitative",
              title: "ROUGE-L",
              scale: { scheme: "viridis", domain: [0, 100] },
            },
          },
        },
        {
          mark: { type: "text", fontSize: 10 },
          encoding: {
            text: { field: "score", type: "quantitative", format: ".0f" },
            color: { condition: { test: "datum.score > 60", value: "black" }, value: "white" },
          },
        },
      ],
    },
  };
}

/** The PILLOW matcher's mean training reward per RL step. */
export function rewardChart(rewards: number[], reward = "ROUGE-L"): Chart {
  return {
    id: "matcher-reward",
    title: `PILLOW matcher: mean training reward (${reward}) per RL step`,
    spec: {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      width: WIDTH,
      height: HEIGHT,
      data: { values: rewards.map((value, step) => ({ step: step + 1, reward: value })) },
      mark: { type: "line", point: true },
      encoding: {
        x: { field: "step", type: "quantitative", title: "RL step", axis: { tickMinStep: 1 } },
        y: { field: "reward", type: "quantitative", title: "mean reward", scale: { zero: false } },
      },
    },
  };
}

/** Bars of one score per name (selectors on held-out queries; strategies' final AP), with intervals when given. */
export function comparisonBars(
  id: string,
  title: string,
  entries: { name: string; score: number; low?: number; high?: number }[],
  axisTitle: string,
): Chart {
  const withIntervals = entries.some((entry) => entry.low !== undefined && entry.high !== undefined);
  return {
    id,
    title,
    spec: {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      width: WIDTH,
      height: HEIGHT,
      data: { values: entries },
      encoding: {
        x: { field: "name", type: "nominal", title: null, sort: null, axis: { labelAngle: 0 } },
        y: { field: "score", type: "quantitative", title: axisTitle },
      },
      layer: [
        { mark: { type: "bar", color: "#4c78a8" } },
        ...(withIntervals
          ? [
              {
                mark: { type: "rule" as const, color: "black" },
                encoding: { y: { field: "low", type: "quantitative" as const }, y2: { field: "high" } },
              },
            ]
          : []),
        {
          mark: { type: "text", dy: -6, dx: withIntervals ? 14 : 0 },
          encoding: { text: { field: "score", type: "quantitative", format: ".1f" } },
        },
      ],
    },
  };
}

/** Every chart of a demo summary, in report order. */
export function demoCharts(summary: DemoSummary): Chart[] {
  const strategies = Object.entries(summary.continual);
  return [
    comparisonBars(
      "matching-bars",
      "Test ROUGE-L ×100 by demonstration selector (bootstrap 95 % intervals)",
      Object.entries(summary.matching.selectors).map(([name, entry]) => ({
        name,
        score: entry.mean,
        low: entry.low,
        high: entry.high,
      })),
      "ROUGE-L ×100",
    ),
    comparisonBars(
      "continual-bars",
      "Final average performance (AP) by replay strategy",
      strategies.map(([name, result]) => ({ name, score: result.ap.at(-1) ?? 0 })),
      "AP (ROUGE-L ×100)",
    ),
    ...strategies.map(([name, result]) => forgettingHeatmap(name, result.scores, summary.tasks)),
    ...strategies.map(([name, result]) => lossChart(name, result.losses, summary.tasks)),
    rewardChart(summary.matcher.rewards, summary.matcher.reward),
  ];
}
