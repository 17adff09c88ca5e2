// Writes `<dir>/index.html` (inline SVG plots) and `<dir>/plots/<id>.svg`, each file atomically
// (temp file + rename) so an interrupted run never leaves a half-written report behind.
import fs from "node:fs";
import path from "node:path";
import { writeFileAtomically } from "@pillow/core";
import { demoCharts, renderSvg } from "./charts.js";
import { reportHtml, type RenderedChart } from "./html.js";
import { type DemoSummary, demoSummarySchema } from "./summary.js";

/** Creates the parent folder, then writes through core's one atomic writer (temporary file, fsync, rename). */
export function writeFileAtomic(file: string, contents: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeFileAtomically(file, contents);
}

export type WrittenReport = { index: string; plots: string[] };

export async function writeReport(summary: DemoSummary, directory: string): Promise<WrittenReport> {
  const checked = demoSummarySchema.safeParse(summary);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new Error(`report: summary.${issue.path.join(".")}: ${issue.message}`);
  }
  const charts: RenderedChart[] = [];
  for (const chart of demoCharts(summary))
    charts.push({ id: chart.id, title: chart.title, svg: await renderSvg(chart.spec) });
  const plots = charts.map((chart) => {
    const file = path.join(directory, "plots", `${chart.id}.svg`);
    writeFileAtomic(file, chart.svg);
    return file;
  });
  const index = path.join(directory, "index.html");
  writeFileAtomic(index, reportHtml(summary, charts));
  return { index, plots };
}
