import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { collectInfo, formatInfo } from "./index.js";

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "dist", "bin.js");

describe("pillow info", () => {
  it("reports version, ISA and CUDA status", () => {
    const report = collectInfo();
    expect(report.pillow).toMatch(/^\d+\.\d+\.\d+/);
    const text = formatInfo(report);
    expect(text).toContain(`cpu:  ${report.backend.cpu.isa}`);
    expect(text).toContain("cuda:");
    // The ops per device and the loader's probe are in the text, not only in --json.
    expect(text).toContain(`ops on cpu:  ${report.backend.ops?.cpu.join(", ")}`);
    expect(text).toMatch(/ops on cuda: /);
    expect(text).toContain("not on cuda yet (cpu only): pairwiseCost");
    expect(text).toContain(`addon loaded from ${report.backend.loader?.path}`);
  });

  it("runs as a command and prints JSON with --json", () => {
    const result = spawnSync(process.execPath, [bin, "info", "--json", "--threads", "1"], { encoding: "utf8" });
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.backend.cpu.threads).toBe(1);
    expect(report.backend.cuda.compiled).toBeTypeOf("boolean");
  });

  it("exits non-zero with a message on an unknown command", () => {
    const result = spawnSync(process.execPath, [bin, "no-such-command"], { encoding: "utf8" });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("unknown command");
  });
});
