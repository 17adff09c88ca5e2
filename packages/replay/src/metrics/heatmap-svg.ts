// A self-contained SVG heat-map of the score matrix (rows: after stage i; columns: task j), for the
// HTML report. Cells above the diagonal (tasks not yet seen) stay blank.

export type HeatmapOptions = {
  title?: string;
  /** Task names, one per column (and row). */
  labels: readonly string[];
  /** Colour scale bounds; default [0, max score] (at least 1). */
  minimum?: number;
  maximum?: number;
  /** Digits printed in each cell (default 1). */
  digits?: number;
};

// Viridis at five stops: perceptually even and readable in grey.
const colourStops: [number, number, number][] = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

function colourAt(fraction: number): string {
  const clamped = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const position = clamped * (colourStops.length - 1);
  const low = Math.min(colourStops.length - 2, Math.floor(position));
  const t = position - low;
  const channel = (k: number) => Math.round(colourStops[low][k] + (colourStops[low + 1][k] - colourStops[low][k]) * t);
  return `rgb(${channel(0)},${channel(1)},${channel(2)})`;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

export function scoreHeatmapSvg(scores: readonly (readonly number[])[], options: HeatmapOptions): string {
  const stages = scores.length;
  if (options.labels.length < stages) {
    throw new RangeError(`scoreHeatmapSvg: ${stages} stages but only ${options.labels.length} labels`);
  }
  const digits = options.digits ?? 1;
  const values = scores.flatMap((row, i) => row.slice(0, i + 1)).filter((value) => Number.isFinite(value));
  const minimum = options.minimum ?? 0;
  const maximum = options.maximum ?? Math.max(1, ...values);
  const cell = 44;
  const labelWidth = 9 + 7 * Math.max(...options.labels.slice(0, stages).map((label) => label.length), 6);
  const titleHeight = options.title ? 44 : 24;
  const left = labelWidth + 8;
  const top = titleHeight + labelWidth;
  const width = left + stages * cell + 16;
  const height = top + stages * cell + 16;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
  );
  if (options.title)
    parts.push(`<text x="${width / 2}" y="18" text-anchor="middle" font-size="14">${escapeXml(options.title)}</text>`);
  parts.push(
    `<text x="${width / 2}" y="${titleHeight - 8}" text-anchor="middle" fill="#555">row: after training on · column: evaluated on</text>`,
  );
  for (let i = 0; i < stages; i++) {
    const label = escapeXml(options.labels[i]);
    const y = top + i * cell + cell / 2 + 4;
    parts.push(`<text x="${left - 6}" y="${y}" text-anchor="end">${label}</text>`);
    const x = left + i * cell + cell / 2 + 4;
    parts.push(`<text transform="translate(${x},${top - 6}) rotate(-90)" text-anchor="start">${label}</text>`);
  }
  scores.forEach((row, i) => {
    for (let j = 0; j <= i; j++) {
      const value = row[j];
      const fraction = (value - minimum) / (maximum - minimum || 1);
      const x = left + j * cell;
      const y = top + i * cell;
      parts.push(
        `<rect x="${x}" y="${y}" width="${cell - 1}" height="${cell - 1}" fill="${colourAt(fraction)}"><title>after stage ${i} on ${escapeXml(options.labels[j])}: ${value}</title></rect>`,
      );
      const textColour = fraction > 0.6 ? "#000" : "#fff";
      const text = Number.isFinite(value) ? value.toFixed(digits) : "–";
      parts.push(
        `<text x="${x + cell / 2}" y="${y + cell / 2 + 4}" text-anchor="middle" fill="${textColour}">${text}</text>`,
      );
    }
  });
  parts.push("</svg>");
  return parts.join("\n");
}
