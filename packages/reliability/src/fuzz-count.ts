// Records how many generated cases each property tried, so the test command can print the total
// (the reliability bar asks for at least 10,000 cases per CI run across targets).
import fs from "node:fs";
import path from "node:path";
import { writeFileAtomically } from "@pillow/core";

export function recordFuzzCases(target: string, cases: number): void {
  const directory = process.env.PILLOW_TEST_REPORT_DIR;
  if (!directory) return;
  fs.mkdirSync(directory, { recursive: true });
  const file = path.join(directory, "fuzz-cases.json");
  let counts: Record<string, number> = {};
  try {
    counts = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    // first writer
  }
  counts[target] = (counts[target] ?? 0) + cases;
  writeFileAtomically(file, JSON.stringify(counts, null, 2));
}
