// Alpaca-style JSONL export: one file per task and split, `{instruction, input, output, task}` a line.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Suite } from "./suite.js";

export type ExportedFile = { task: string; split: "train" | "test"; path: string; count: number };

export async function exportSuiteJsonl(directory: string, suite: Suite): Promise<ExportedFile[]> {
  if (typeof directory !== "string" || directory.length === 0) {
    throw new TypeError("exportSuiteJsonl: directory must be a non-empty path");
  }
  await mkdir(directory, { recursive: true });
  const written: ExportedFile[] = [];
  for (const [index, task] of suite.tasks.entries()) {
    for (const split of ["train", "test"] as const) {
      const lines = task[split].map((instance) =>
        JSON.stringify({
          instruction: instance.instruction,
          input: instance.input,
          output: instance.output,
          task: instance.task,
        }),
      );
      // Zero-padded curriculum position first, so a directory listing shows the InsCL order.
      const file = path.join(directory, `${String(index).padStart(2, "0")}-${task.name}.${split}.jsonl`);
      await writeFile(file, lines.length > 0 ? `${lines.join("\n")}\n` : "");
      written.push({ task: task.name, split, path: file, count: lines.length });
    }
  }
  return written;
}
