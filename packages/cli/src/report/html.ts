// The report page: plain HTML with inline SVG plots and tables, readable offline and printable.
import type { DemoSummary } from "./summary.js";

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

const number = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : "–");

export function table(headers: string[], rows: (string | number)[][], caption?: string): string {
  const head = headers.map((header) => `<th>${escapeHtml(header)}</th>`).join("");
  const body = rows
    .map(
      (row) =>
        `<tr>${row.map((cell) => (typeof cell === "number" ? `<td class="num">${number(cell)}</td>` : `<td>${escapeHtml(cell)}</td>`)).join("")}</tr>`,
    )
    .join("\n");
  return `<table>${caption ? `<caption>${escapeHtml(caption)}</caption>` : ""}<thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

export type RenderedChart = { id: string; title: string; svg: string };

const STYLE = `
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1120px; color: #222; }
h1 { font-size: 26px; margin-bottom: 4px; } h2 { margin-top: 36px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.meta { color: #555; } table { border-collapse: collapse; margin: 12px 0; } caption { text-align: left; font-weight: 600; margin-bottom: 4px; }
th, td { border: 1px solid #ccc; padding: 4px 10px; } th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 16px 0; } figcaption { font-weight: 600; margin-bottom: 6px; } .plots { display: flex; flex-wrap: wrap; gap: 16px; }
`;

export function reportHtml(summary: DemoSummary, charts: RenderedChart[]): string {
  const chart = (id: string) => {
    const found = charts.find((candidate) => candidate.id === id);
    return found
      ? `<figure id="${escapeHtml(found.id)}"><figcaption>${escapeHtml(found.title)}</figcaption>${found.svg}</figure>`
      : "";
  };
  const strategies = Object.entries(summary.continual);
  const continualRows = strategies.map(([name, result]) => [
    name,
    result.ap.at(-1) ?? Number.NaN,
    result.relativeGain.at(-1) ?? Number.NaN,
    result.bwt,
    result.forgetting,
    result.replayed.reduce((sum, count) => sum + count, 0),
    result.versusRandom
      ? `${result.versusRandom.mean >= 0 ? "+" : ""}${result.versusRandom.mean.toFixed(1)} [${result.versusRandom.low.toFixed(1)}, ${result.versusRandom.high.toFixed(1)}]`
      : "—",
    result.seconds,
  ]);
  const matrices = strategies
    .map(([name, result]) =>
      table(
        ["after stage", ...summary.tasks.map((task, index) => `${index + 1}. ${task}`)],
        result.scores.map((row, stage) => [
          `${stage + 1}. ${summary.tasks[stage]}`,
          ...summary.tasks.map((_, task) => (task < row.length ? row[task] : "")),
        ]),
        `R[i][j] — replay ${name}`,
      ),
    )
    .join("\n");
  const minutes = summary.seconds / 60;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pillow report</title><style>${STYLE}</style></head>
<body>
<h1>pillow report</h1>
<p class="meta">model <b>${escapeHtml(summary.model)}</b> · ${summary.tasks.length} tasks · ${summary.quick ? "quick run" : "full run"} · ${number(summary.seconds, 0)} s (${number(minutes, 1)} min)</p>

<h2>PILLOW prompt matching</h2>
<p>ROUGE-L ×100 of the greedy answer on ${summary.matcher.queries} test queries with the final adapter, by how demonstrations are chosen (pool of ${summary.matcher.poolSize}); intervals are bootstrap 95 % over queries.</p>
<p><b>${escapeHtml(summary.matching.verdict)}</b></p>
${table(
  [
    "selector",
    "ROUGE-L ×100",
    "95 % interval",
    "demos",
    ...summary.matching.kinds.map((kind) => `${kind} (${summary.matching.kindCounts[kind]})`),
  ],
  Object.entries(summary.matching.selectors).map(([name, entry]) => [
    name,
    entry.mean,
    `[${number(entry.low, 1)}, ${number(entry.high, 1)}]`,
    number(entry.meanDemos, 2),
    ...summary.matching.kinds.map((kind) => entry.byKind[kind]),
  ]),
)}
<div class="plots">${chart("matching-bars")}${chart("matcher-reward")}</div>

<h2>Continual instruction tuning (InsCL)</h2>
${table(["replay", "final AP", "final RG %", "BWT", "forgetting", "replayed examples", "RG − random [95 % CI over tasks]", "seconds"], continualRows)}
${summary.continualFinding ? `<p>${escapeHtml(summary.continualFinding)}</p>` : ""}
<div class="plots">${chart("continual-bars")}</div>
<h3>Forgetting heat-maps</h3>
<div class="plots">${strategies.map(([name]) => chart(`heatmap-${name}`)).join("")}</div>
${matrices}
<h3>Training loss</h3>
<div class="plots">${strategies.map(([name]) => chart(`loss-${name}`)).join("")}</div>

<h2>Time</h2>
${table(
  ["phase", "seconds"],
  Object.entries(summary.phases).map(([phase, seconds]) => [phase, seconds]),
)}
</body></html>
`;
}
