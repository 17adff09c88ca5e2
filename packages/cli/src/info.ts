// `pillow info`: version, native backend (ISA, threads, CUDA) — the first thing to run on a new machine.
import { backendInfo, type BackendInfo } from "@pillow/core";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

export type InfoReport = { pillow: string; node: string; platform: string; backend: BackendInfo };

export function collectInfo(): InfoReport {
  const { version } = require("../package.json") as { version: string };
  return {
    pillow: version,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    backend: backendInfo(),
  };
}

export function formatInfo(report: InfoReport): string {
  const { backend } = report;
  const cuda = backend.cuda.compiled
    ? `compiled${backend.cuda.emulated ? " (emulated on the CPU: PILLOW_CUDA=emulate, tests only)" : ""}, ${backend.cuda.devices} device(s)${backend.cuda.error ? ` (${backend.cuda.error})` : ""}`
    : `not compiled${backend.cuda.error ? ` (${backend.cuda.error})` : ""}`;
  const lines = [
    `pillow ${report.pillow} (node ${report.node}, ${report.platform})`,
    `native addon ${backend.version}`,
    `  cpu:  ${backend.cpu.isa}, ${backend.cpu.threads} thread(s)`,
    `  cuda: ${cuda}`,
  ];
  // What `device: "cuda"` reaches (kernels and LlamaModel steps) and what stays on the CPU.
  if (backend.ops) {
    lines.push(`ops on cpu:  ${backend.ops.cpu.join(", ")}`);
    lines.push(
      `ops on cuda: ${backend.ops.cuda.length > 0 ? backend.ops.cuda.join(", ") : "none (no usable CUDA backend)"}`,
    );
    if (backend.ops.cudaMissing?.length)
      lines.push(`not on cuda yet (cpu only): ${backend.ops.cudaMissing.join(", ")}`);
  }
  // The loader's probe: which addon file it loaded, and why it passed over the others.
  if (backend.loader) {
    lines.push(`addon loaded from ${backend.loader.path}`);
    for (const skipped of backend.loader.skipped) lines.push(`  skipped ${skipped.path}: ${skipped.reason}`);
  }
  return lines.join("\n");
}
