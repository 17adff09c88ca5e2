// `pillow demo --quick --json` end to end, as a user runs it (the spawned binary): the summary has
// every phase, every number is finite, and the report and its artefacts are on disk.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createTinyModel } from "@pillow/core";
import { tinyModelDir, tinyModelShape, writeTinyModelAssets } from "@pillow/suite";
import { describe, expect, it } from "vitest";
import { collectNumbers, demoSummarySchema } from "../report/summary.js";

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "dist", "bin.js");

describe("pillow demo --quick", () => {
  it("writes a complete, finite JSON summary, the report, adapters and the matcher", async () => {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-demo-"));
    const args = [
      "--threads",
      "2",
      "demo",
      "--quick",
      "--out",
      path.join(directory, "report"),
      "--json",
      path.join(directory, "out.json"),
    ];
    // The shipped tiny checkpoint when present; otherwise a random-weight model of the same shape
    // (the structure and finiteness checked here do not depend on how well the model answers).
    if (!fs.existsSync(path.join(tinyModelDir, "model.safetensors"))) {
      const model = path.join(directory, "model");
      createTinyModel(model, {
        hiddenSize: tinyModelShape.hiddenSize,
        intermediateSize: tinyModelShape.intermediateSize,
        numLayers: tinyModelShape.layers,
        numHeads: tinyModelShape.attentionHeads,
        numKeyValueHeads: tinyModelShape.keyValueHeads,
        maxPositionEmbeddings: 512,
        seed: 1,
      });
      await writeTinyModelAssets(model);
      args.push("--model", model);
    }
    const result = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 420_000 });
    expect(result.status, result.stderr).toBe(0);
    const summary = JSON.parse(fs.readFileSync(path.join(directory, "out.json"), "utf8"));
    expect(demoSummarySchema.safeParse(summary).success).toBe(true);
    const numbers = collectNumbers(summary);
    expect(numbers.length).toBeGreaterThan(50);
    expect(numbers.filter((entry) => !Number.isFinite(entry.value))).toEqual([]);
    expect(Object.keys(summary.continual)).toEqual(["none", "random", "inscl", "interference"]);
    expect(summary.continual.random.versusRandom).toBeUndefined();
    // interference − random, paired over the 2 earlier tasks: the mean is the difference of the final RGs.
    const versus = summary.continual.interference.versusRandom;
    if (versus) {
      expect(versus.mean).toBeCloseTo(
        summary.continual.interference.relativeGain[1] - summary.continual.random.relativeGain[1],
        6,
      );
      expect(versus.low).toBeLessThanOrEqual(versus.mean);
      expect(versus.high).toBeGreaterThanOrEqual(versus.mean);
      expect(summary.continualFinding).toMatch(/best replay against random: .* over \d earlier tasks/);
    }
    expect(Object.keys(summary.matching.selectors)).toEqual(["none", "random", "bm25", "knn", "pillow"]);
    for (const entry of Object.values(summary.matching.selectors) as { mean: number; low: number; high: number }[]) {
      expect(entry.low).toBeLessThanOrEqual(entry.mean + 1e-9);
      expect(entry.high).toBeGreaterThanOrEqual(entry.mean - 1e-9);
    }
    const best = summary.matching.selectors[summary.matching.bestBaseline];
    expect(summary.matching.difference.mean).toBeCloseTo(summary.matching.selectors.pillow.mean - best.mean, 9);
    expect(summary.matching.verdict).toMatch(/^PILLOW [+-][\d.]+ ROUGE-L vs the best fixed selector/);
    expect(summary.matching.kinds.length).toBeGreaterThan(0);
    for (const strategy of Object.values(summary.continual) as {
      scores: number[][];
      ap: number[];
      relativeGain: number[];
      losses: number[][];
    }[]) {
      expect(strategy.scores.map((row) => row.length)).toEqual([1, 2, 3]);
      expect(strategy.ap.length).toBe(3);
      expect(strategy.relativeGain.length).toBe(2);
      // AP is the mean of each R row, recomputed here independently.
      strategy.scores.forEach((row, stage) => {
        expect(strategy.ap[stage]).toBeCloseTo(row.reduce((sum, value) => sum + value, 0) / row.length, 9);
      });
      expect(strategy.losses.length).toBe(3);
      for (const losses of strategy.losses) expect(losses.length).toBeGreaterThan(0);
    }
    expect(summary.continual.none.replayed).toEqual([0, 0, 0]);
    expect(summary.continual.inscl.replayed).toEqual([0, 6, 12]);
    expect(summary.continual.interference.replayed).toEqual([0, 6, 12]);
    expect(summary.matcher.rewards.length).toBe(6);
    const report = path.join(directory, "report");
    expect(fs.readFileSync(path.join(report, "index.html"), "utf8")).toContain("<svg");
    expect(fs.existsSync(path.join(report, "adapters", "inscl", "adapter_model.safetensors"))).toBe(true);
    expect(fs.existsSync(path.join(report, "matcher", "model.safetensors"))).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(report, "results.json"), "utf8")).seconds).toBe(summary.seconds);
    // Four strategies (interference's look-ahead included): ~85 s at load 16, longer when the machine is shared.
  }, 450_000);
});
