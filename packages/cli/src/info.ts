// `pillow info`: version, native backend (ISA, threads, CUDA) — the first thing to run on a new machine.
import { backendInfo, type BackendInfo } from "@pillow/core";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

export type InfoReport = { pillow: string; node: string; platform: string; backend: BackendInfo };

export function collectInfo(): InfoReport {
  const { version } = require("../package.json") as { version: string };
  return { pillow: version, node: process.version, platform: `${process.platform}-${process.arch}`, backend: backendInfo() };
}

export function formatInfo(report: InfoReport): string {
  const { backend } = report;
  const cuda = backend.cuda.compiled
    ? `compiled, ${backend.cuda.devices} device(s)${backend.cuda.error ? ` (${backend.cuda.error})` : ""}`
    : "not compiled";
  return [
    `pillow ${report.pillow} (node ${report.node}, ${report.platform})`,
    `native addon ${backend.version}`,
    `  cpu:  ${backend.cpu.isa}, ${backend.cpu.threads} thread(s)`,
    `  cuda: ${cuda}`,
  ].join("\n");
}
