import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { findChromium, screenshot } from "./chromium.js";
import { decodePng } from "./png.js";
import { collectNumbers, demoSummarySchema } from "./summary.js";
import { syntheticSummary } from "./synthetic-summary.js";
import { writeReport } from "./write-report.js";

/** Well-formedness: every start tag is closed in order (self-closing tags allowed), one root. */
function checkWellFormed(xml: string): void {
  const stack: string[] = [];
  const tags = xml
    .replace(/<!--[\s\S]*?-->/g, "")
    .matchAll(/<(\/?)([A-Za-z][\w:.-]*)((?:[^>"']|"[^"]*"|'[^']*')*?)(\/?)>/g);
  let roots = 0;
  for (const [, closing, name, , selfClosing] of tags) {
    if (closing) {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}>`);
    } else if (!selfClosing) {
      if (stack.length === 0) roots += 1;
      stack.push(name);
    }
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack.join("> <")}>`);
  if (roots !== 1) throw new Error(`${roots} root elements`);
}

const temporary = () => fs.mkdtempSync(path.join(os.tmpdir(), "pillow-report-"));

describe("report", () => {
  it("writes index.html with one well-formed, non-empty SVG per plot", async () => {
    const summary = syntheticSummary();
    expect(collectNumbers(summary).every((entry) => Number.isFinite(entry.value))).toBe(true);
    const directory = temporary();
    const written = await writeReport(summary, directory);
    // 2 bar charts, 3 heat-maps, 3 loss charts, 1 reward curve.
    expect(written.plots.map((file) => path.basename(file)).sort()).toEqual(
      [
        "continual-bars.svg",
        "heatmap-inscl.svg",
        "heatmap-none.svg",
        "heatmap-random.svg",
        "loss-inscl.svg",
        "loss-none.svg",
        "loss-random.svg",
        "matcher-reward.svg",
        "matching-bars.svg",
      ].sort(),
    );
    for (const file of written.plots) {
      const svg = fs.readFileSync(file, "utf8");
      expect(svg.startsWith("<svg"), file).toBe(true);
      expect(svg.length, file).toBeGreaterThan(2000);
      checkWellFormed(svg);
      const [, width, height] = /width="(\d+)" height="(\d+)"/.exec(svg)!;
      expect(Number(width)).toBeGreaterThan(100);
      expect(Number(height)).toBeGreaterThan(100);
    }
    const bars = fs.readFileSync(path.join(directory, "plots", "matching-bars.svg"), "utf8");
    for (const label of ["none", "random", "bm25", "knn", "pillow", "42.8", "21.5"])
      expect(bars).toContain(`>${label}<`);
    // The heat-map labels every seen cell with its score (rounded), and has a cell per (stage, task ≤ stage).
    const heatmap = fs.readFileSync(path.join(directory, "plots", "heatmap-none.svg"), "utf8");
    for (const row of summary.continual.none.scores)
      for (const score of row) expect(heatmap).toContain(`>${score.toFixed(0)}<`);
    const cells = /<g class="mark-rect role-mark[^"]*"[^>]*>([\s\S]*?)<\/g>/.exec(heatmap)![1];
    expect(cells.match(/<path /g)!.length).toBe(10); // 1 + 2 + 3 + 4
    const html = fs.readFileSync(written.index, "utf8");
    checkWellFormed(html.replace(/^<!doctype html>/i, "").replace(/<meta[^>]*>/g, ""));
    expect(html.match(/<svg/g)!.length).toBe(9);
    expect(html).toContain('<td class="num">42.8</td>'); // pillow's ROUGE-L in the table
    expect(html).toContain(`<td class="num">${summary.continual.inscl.bwt.toFixed(1)}</td>`);
  });

  it("refuses a summary with a non-finite number, naming the field", async () => {
    const summary = syntheticSummary();
    summary.continual.random.ap[2] = Number.NaN;
    expect(demoSummarySchema.safeParse(summary).success).toBe(false);
    await expect(writeReport(summary, temporary())).rejects.toThrow(
      /^report: summary\.continual\.random\.ap\.2: .*NaN/,
    );
    summary.continual.random.ap[2] = 1;
    summary.matching.selectors.knn.mean = Number.POSITIVE_INFINITY;
    await expect(writeReport(summary, temporary())).rejects.toThrow(
      /^report: summary\.matching\.selectors\.knn\.mean: /,
    );
  });

  it("decodes a Chromium screenshot of known colours pixel-exactly", async () => {
    const directory = temporary();
    const page = path.join(directory, "colours.html");
    fs.writeFileSync(
      page,
      '<html><body style="margin:0;background:#ff0000"><div style="width:300px;height:200px;background:#0000ff"></div><div style="width:100px;height:100px;background:#00ff80"></div></body></html>',
    );
    const file = path.join(directory, "colours.png");
    await screenshot(pathToFileURL(page).href, file, { width: 400, height: 400 });
    const png = decodePng(fs.readFileSync(file));
    expect([png.width, png.height]).toEqual([400, 400]);
    const pixel = (x: number, y: number) =>
      Array.from(png.pixels.subarray((y * png.width + x) * png.channels, (y * png.width + x) * png.channels + 3));
    expect(pixel(10, 10)).toEqual([0, 0, 255]);
    expect(pixel(299, 199)).toEqual([0, 0, 255]);
    expect(pixel(350, 100)).toEqual([255, 0, 0]);
    expect(pixel(50, 250)).toEqual([0, 255, 128]);
    expect(pixel(150, 250)).toEqual([255, 0, 0]);
  });

  it("renders in headless Chromium: the screenshot has the expected size and the plots are drawn", async () => {
    expect(findChromium(), "install Chromium (apt-get install chromium) or set PILLOW_CHROMIUM").toBeDefined();
    const directory = temporary();
    const written = await writeReport(syntheticSummary(), directory);
    const file = path.join(directory, "report.png");
    await screenshot(pathToFileURL(written.index).href, file, { width: 1200, height: 2000 });
    const png = decodePng(fs.readFileSync(file));
    expect([png.width, png.height]).toEqual([1200, 2000]);
    let white = 0;
    let barBlue = 0;
    let coloured = 0;
    for (let offset = 0; offset < png.pixels.length; offset += png.channels) {
      const [red, green, blue] = [png.pixels[offset], png.pixels[offset + 1], png.pixels[offset + 2]];
      if (red > 245 && green > 245 && blue > 245) white++;
      // vega's default bar colour #4c78a8 (the comparison bars), allowing for anti-aliasing.
      if (Math.abs(red - 0x4c) < 6 && Math.abs(green - 0x78) < 6 && Math.abs(blue - 0xa8) < 6) barBlue++;
      if (Math.max(red, green, blue) - Math.min(red, green, blue) > 60) coloured++;
    }
    const total = png.width * png.height;
    expect(white / total).toBeGreaterThan(0.3); // a page, not a blank or black frame
    expect(white / total).toBeLessThan(0.98);
    expect(barBlue).toBeGreaterThan(5000); // the bar charts are there
    expect(coloured).toBeGreaterThan(50_000); // and the viridis heat-maps
  });
});
