import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { exportSuiteJsonl } from "./export.js";
import { buildSuite } from "./suite.js";

describe("exportSuiteJsonl", () => {
  it("writes one Alpaca-style JSONL file per task and split that reads back to the suite", async () => {
    const suite = buildSuite({ seed: 3, trainPerTask: 5, testPerTask: 2 });
    const directory = await mkdtemp(path.join(tmpdir(), "suite-export-"));
    try {
      const written = await exportSuiteJsonl(directory, suite);
      expect(written).toHaveLength(32);
      expect((await readdir(directory)).sort()[0]).toBe("00-parity.test.jsonl");
      for (const file of written) {
        const task = suite.tasks.find((t) => t.name === file.task)!;
        const lines = (await readFile(file.path, "utf8")).trimEnd().split("\n");
        expect(lines.map((line) => JSON.parse(line))).toEqual(task[file.split]);
        expect(file.count).toBe(task[file.split].length);
      }
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
    await expect(exportSuiteJsonl("", suite)).rejects.toThrow(/directory must be a non-empty path/);
  });
});
