// `pillow continual compare` and `pillow continual plan` as users run them (spawned from dist/), on
// hand-built task files and a tiny random model.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createTinyModel } from "@pillow/core";
import { defaultDirectedShare } from "@pillow/replay";
import { beforeAll, describe, expect, it } from "vitest";

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "dist", "bin.js");
const pillow = (args: string[]) => {
  const result = spawnSync(process.execPath, [bin, "--threads", "1", ...args], { encoding: "utf8", timeout: 120_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
};

let directory = "";
let model = "";
const files: Record<string, string> = {};
// alpha: 10 records (8 train, last 2 test), beta: 10 (8 / 2), gamma: 5 (4 / 1) at --test-share 0.2.
const sizes = { alpha: 10, beta: 10, gamma: 5 };

beforeAll(() => {
  directory = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-continual-"));
  model = path.join(directory, "model");
  createTinyModel(model, { hiddenSize: 32, numLayers: 1, numHeads: 2, maxPositionEmbeddings: 256, seed: 4 });
  for (const [name, count] of Object.entries(sizes)) {
    files[name] = path.join(directory, `${name}.jsonl`);
    const lines = Array.from({ length: count }, (_, k) =>
      JSON.stringify({
        instruction: k % 2 ? `Say ${name}.` : `Repeat ${name}.`,
        input: `${name}-${k}`,
        output: `${name} ${k}`,
      }),
    );
    fs.writeFileSync(files[name], `${lines.join("\n")}\n`);
  }
});

type Manifest = {
  strategy: string;
  stages: {
    stage: number;
    task: string;
    file: string;
    instances: number;
    current: number;
    budget: number;
    replay: { task: string; count: number }[];
  }[];
};

describe("pillow continual plan", () => {
  it("writes each stage's training set and a manifest (hand-built 3-task case, uniform replay)", () => {
    const out = path.join(directory, "plan");
    const result = pillow([
      "continual",
      "plan",
      "--tasks",
      files.alpha,
      files.beta,
      files.gamma,
      "--replay",
      "uniform",
      "--replay-per-task",
      "3",
      "--out",
      out,
      "--json",
    ]);
    expect(result.status, result.stderr).toBe(0);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, "manifest.json"), "utf8")) as Manifest;
    expect(JSON.parse(result.stdout)).toEqual(manifest);
    expect(manifest.stages.map((stage) => stage.task)).toEqual(["alpha", "beta", "gamma"]);
    // Stage i replays 3·i: stage 1 → 3 from alpha; stage 2 → 6 split equally, 3 from alpha and 3 from beta.
    expect(manifest.stages.map((stage) => stage.budget)).toEqual([0, 3, 6]);
    expect(manifest.stages[1].replay).toEqual([{ task: "alpha", count: 3 }]);
    expect(manifest.stages[2].replay).toEqual([
      { task: "alpha", count: 3 },
      { task: "beta", count: 3 },
    ]);
    expect(manifest.stages.map((stage) => stage.instances)).toEqual([8, 8 + 3, 4 + 6]);
    for (const stage of manifest.stages) {
      const records = fs
        .readFileSync(path.join(out, stage.file), "utf8")
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as { input: string; task: string });
      expect(records.length).toBe(stage.instances);
      const counts: Record<string, number> = {};
      for (const record of records) {
        counts[record.task] = (counts[record.task] ?? 0) + 1;
        // Every record comes from its task's training part: index < the task's training size.
        const index = Number(record.input.split("-")[1]);
        expect(record.input.startsWith(`${record.task}-`)).toBe(true);
        expect(index).toBeLessThan(sizes[record.task as keyof typeof sizes] - (record.task === "gamma" ? 1 : 2));
      }
      expect(counts[stage.task]).toBe(stage.current);
      for (const entry of stage.replay) expect(counts[entry.task]).toBe(entry.count);
    }
  });

  it("interference needs a model: a clear error without one; with one, the manifest holds the measurements", () => {
    const out = path.join(directory, "plan-interference");
    const missing = pillow([
      "continual",
      "plan",
      "--tasks",
      files.alpha,
      files.beta,
      "--replay",
      "interference",
      "--out",
      out,
    ]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/"interference" cannot be planned without a model/);
    expect(missing.stderr).toMatch(/--model DIR/);
    const openai = pillow([
      "continual",
      "plan",
      "--tasks",
      files.alpha,
      files.beta,
      "--replay",
      "interference",
      "--backend",
      "openai",
      "--out",
      out,
    ]);
    expect(openai.status).toBe(2);
    expect(openai.stderr).toMatch(/needs the native model/);
    const planned = pillow([
      "continual",
      "plan",
      "--tasks",
      files.alpha,
      files.beta,
      files.gamma,
      "--replay",
      "interference",
      "--replay-per-task",
      "4",
      "--cap-share",
      "0.5",
      "--model",
      model,
      "--out",
      out,
    ]);
    expect(planned.status, planned.stderr).toBe(0);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, "manifest.json"), "utf8")) as Manifest & {
      stages: { lookAhead?: { before: number[]; after: number[] } }[];
    };
    expect(manifest.stages[2].lookAhead!.before.length).toBe(2);
    expect(manifest.stages[2].replay.reduce((sum, entry) => sum + entry.count, 0)).toBe(8);
    // Floor ⌊0.5·8/2⌋ = 2 (the default floor share): no earlier task gets nothing; the cap (0.5 of gamma's 4 training
    // instances = 2, raised to the equal share ⌈8/2⌉ = 4) allows at most 4 per task, so 4 + 4.
    for (const entry of manifest.stages[2].replay) expect(entry.count).toBeGreaterThanOrEqual(1);
    expect((manifest as unknown as { capShare: number }).capShare).toBe(0.5);
    // --directed-share not given: the package's default, recorded as used.
    expect((manifest as unknown as { directedShare: number }).directedShare).toBe(defaultDirectedShare);
    // --shared-instructions not given: the default, recorded as used.
    expect((manifest as unknown as { sharedInstructions: string }).sharedInstructions).toBe("replay");
    expect(manifest.stages[2].replay.map((entry) => entry.count)).toEqual([4, 4]);
  });
});

describe("pillow continual compare", () => {
  const base = (out: string) => [
    "continual",
    "compare",
    "--tasks",
    files.alpha,
    files.beta,
    files.gamma,
    "--model",
    model,
    "--strategies",
    "none,random,interference",
    "--orders",
    "curriculum,reverse",
    "--seeds",
    "0,1",
    "--replay-per-task",
    "2",
    "--batch-size",
    "4",
    "--max-tokens",
    "3",
    "--out",
    out,
  ];
  // Everything but wall-clock times.
  const stable = (value: unknown) =>
    JSON.parse(
      JSON.stringify(value, (key, item) =>
        ["seconds", "lookAheadSeconds", "trainSeconds", "minutes", "stageSeconds"].includes(key) ? undefined : item,
      ),
    );

  it("resume after losing runs gives the same table as an uninterrupted compare", () => {
    const whole = path.join(directory, "compare-whole");
    const first = pillow([...base(whole), "--json", "-"]);
    expect(first.status, first.stderr).toBe(0);
    const summary = JSON.parse(first.stdout);
    expect(summary.cells.length).toBe(4);
    expect(summary.strategies.map((row: { strategy: string; cells: number }) => [row.strategy, row.cells])).toEqual([
      ["none", 4],
      ["random", 4],
      ["interference", 4],
    ]);
    // The look-ahead's measurements are in every interference run (the resume check below compares them too).
    const run = JSON.parse(fs.readFileSync(path.join(whole, "runs", "reverse__seed-1__interference.json"), "utf8"));
    expect(run.plans[2].perTask.map((entry: { increase: number }) => Number.isFinite(entry.increase))).toEqual([
      true,
      true,
    ]);
    expect(fs.readdirSync(path.join(whole, "runs")).length).toBe(12);
    for (const strategy of ["none", "random", "interference"])
      expect(fs.existsSync(path.join(whole, `heatmap-${strategy}.svg`))).toBe(true);
    // An interrupted compare: the same settings with some runs missing (as after Ctrl-C), then --resume.
    const resumed = path.join(directory, "compare-resumed");
    fs.mkdirSync(path.join(resumed, "runs"), { recursive: true });
    fs.copyFileSync(path.join(whole, "settings.json"), path.join(resumed, "settings.json"));
    for (const name of fs
      .readdirSync(path.join(whole, "runs"))
      .filter((name) => name.startsWith("curriculum__seed-0"))) {
      fs.copyFileSync(path.join(whole, "runs", name), path.join(resumed, "runs", name));
    }
    const again = pillow([...base(resumed), "--json", "-"]);
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/already holds a compare/);
    const continued = pillow([...base(resumed), "--resume", "--json", "-"]);
    expect(continued.status, continued.stderr).toBe(0);
    expect(continued.stderr).toMatch(/3 already finished/);
    expect(stable(JSON.parse(continued.stdout))).toEqual(stable(summary));
    // And run by run: the same scores, plans and look-ahead measurements.
    for (const name of fs.readdirSync(path.join(whole, "runs"))) {
      const read = (root: string) => stable(JSON.parse(fs.readFileSync(path.join(root, "runs", name), "utf8")));
      expect(read(resumed)).toEqual(read(whole));
    }
    const other = pillow([...base(resumed), "--resume", "--lr", "0.01"]);
    expect(other.status).toBe(2);
    expect(other.stderr).toMatch(/run with other settings/);
  });

  it("bad input: an empty task file, duplicate task names, an order naming an unknown task", () => {
    const empty = path.join(directory, "empty.jsonl");
    fs.writeFileSync(empty, "");
    const noInstances = pillow([
      "continual",
      "compare",
      "--tasks",
      files.alpha,
      empty,
      "--model",
      model,
      "--out",
      path.join(directory, "x"),
    ]);
    expect(noInstances.status).not.toBe(0);
    expect(noInstances.stderr).toMatch(/empty\.jsonl/);
    const twice = path.join(directory, "other");
    fs.mkdirSync(twice, { recursive: true });
    fs.copyFileSync(files.alpha, path.join(twice, "alpha.jsonl"));
    const duplicate = pillow([
      "continual",
      "compare",
      "--tasks",
      files.alpha,
      path.join(twice, "alpha.jsonl"),
      "--model",
      model,
      "--out",
      path.join(directory, "y"),
    ]);
    expect(duplicate.status).toBe(2);
    expect(duplicate.stderr).toMatch(/duplicate task name "alpha"/);
    const order = pillow([
      "continual",
      "compare",
      "--tasks",
      files.alpha,
      files.beta,
      "--model",
      model,
      "--orders",
      "alpha>delta",
      "--out",
      path.join(directory, "z"),
    ]);
    expect(order.status).toBe(2);
    expect(order.stderr).toMatch(/names unknown task "delta"/);
    const neither = pillow(["continual", "compare", "--out", path.join(directory, "w")]);
    expect(neither.status).toBe(2);
    expect(neither.stderr).toMatch(/either --tasks FILES\.\.\. or --suite/);
    const strategy = pillow([
      "continual",
      "compare",
      "--suite",
      "--strategies",
      "random,magic",
      "--out",
      path.join(directory, "v"),
    ]);
    expect(strategy.status).toBe(2);
    expect(strategy.stderr).toMatch(/unknown strategy "magic"/);
    const cap = pillow(["continual", "compare", "--suite", "--cap-share", "-1", "--out", path.join(directory, "u")]);
    expect(cap.status).toBe(2);
    expect(cap.stderr).toMatch(/--cap-share must be a number ≥ 0 or "none", got "-1"/);
  });
});
