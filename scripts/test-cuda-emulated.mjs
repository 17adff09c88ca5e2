#!/usr/bin/env node
// `pnpm test:cuda-emulated`: every CUDA kernel against its CPU op without a GPU. Builds the CUDA
// backend in the emulation (PILLOW_CUDA=emulate: the same .cu sources on CPU fibers), runs the
// native CUDA-vs-CPU tests and the emulation's own tests, then @pillow/lora-kernels' device tests
// (src/device.test.ts: every public kernel call on "cuda" against "cpu" at tiny shapes, and
// PILLOW_DEVICE=cuda) against the emulated addon, then @pillow/core's device tests (a cuda model
// against a cpu model on a tiny model) and its PyTorch-reference tests with PILLOW_DEVICE=cuda
// (logits, LoRA loss and gradients). lora-kernels' whole suite with PILLOW_DEVICE=cuda
// is too slow in the emulation for CI (its shapes reach 257×257 at rank 256: not finished after
// 12 min on the 2-core host). Prints the totals as its last line:
//   cuda-emulated: N passed, N failed
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { countVitestReport } from "./vitest-report.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const addonBuildDir = "build-emulate";
const addon = path.join(root, "native", addonBuildDir, "Release", "pillow_native.node");
let passed = 0;
let failed = 0;
const problems = [];

function run(label, command, args, options = {}) {
  console.log(`\n=== ${label}`);
  const started = Date.now();
  const result = spawnSync(command, args, {
    cwd: root,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    ...options,
  });
  process.stdout.write(result.stdout ?? "");
  process.stderr.write(result.stderr ?? "");
  console.log(`(${((Date.now() - started) / 1000).toFixed(1)} s)`);
  if (result.status !== 0) problems.push(`${label} exited with ${result.status ?? result.signal}`);
  return result;
}

const native = run("native CUDA-vs-CPU and emulation tests (PILLOW_CUDA=emulate)", "node", [
  "native/scripts/native-tests.mjs",
  "--cuda",
  "emulate",
  "--only",
  "cuda_,emulation_",
]);
const nativeSummary = /native: (\d+) passed, (\d+) failed/.exec(native.stdout ?? "");
if (nativeSummary) {
  passed += Number(nativeSummary[1]);
  failed += Number(nativeSummary[2]);
} else {
  failed += 1;
  problems.push("native tests: no summary line");
}

const build = run("addon build (PILLOW_CUDA=emulate)", "node", [
  "native/scripts/build.mjs",
  "--cuda",
  "emulate",
  "--build-dir",
  addonBuildDir,
]);
// One vitest run against the emulated addon, counted from its JSON report.
function vitestOnAddon(label, pkg, args, env, reportName) {
  const reportFile = path.join(root, ".test-results", `${reportName}.json`);
  fs.mkdirSync(path.dirname(reportFile), { recursive: true });
  fs.rmSync(reportFile, { force: true });
  run(
    label,
    "pnpm",
    [
      "--filter",
      pkg,
      "exec",
      "vitest",
      "run",
      ...args,
      "--reporter=default",
      "--reporter=json",
      `--outputFile.json=${reportFile}`,
    ],
    {
      env: { ...process.env, PILLOW_NATIVE_PATH: addon, ...env },
    },
  );
  if (fs.existsSync(reportFile)) {
    const counts = countVitestReport(reportFile);
    passed += counts.passed;
    failed += counts.failed;
    problems.push(...counts.problems);
  } else {
    failed += 1;
    problems.push(`${label}: no test report`);
  }
}

if (build.status === 0) {
  vitestOnAddon(
    "@pillow/lora-kernels device tests on the emulated addon",
    "@pillow/lora-kernels",
    ["src/device.test.ts"],
    {},
    "lora-kernels-cuda-emulated",
  );
  // loadModel(dir, { device: "cuda" }) against the CPU on a tiny model: greedy, batched and sampled
  // text, LoRA loss, gradients and training steps, and the E_UNSUPPORTED refusals.
  vitestOnAddon(
    "@pillow/core device tests (cuda model vs cpu model)",
    "@pillow/core",
    ["src/model-device.test.ts"],
    {},
    "core-device-cuda-emulated",
  );
  // core's PyTorch-reference tests with every model on "cuda" (PILLOW_DEVICE): logits with and without
  // the PEFT adapter, LoRA loss and gradients, for all five reference checkpoints (GQA, T = 1, Qwen2
  // tied + bias, Llama-3 and linear rope). The full-parameter ones are CPU-only (E_UNSUPPORTED).
  vitestOnAddon(
    "@pillow/core PyTorch-reference tests through device cuda",
    "@pillow/core",
    ["src/model.test.ts", "-t", "(base logits|logits with the PEFT adapter|LoRA loss and gradients)$"],
    { PILLOW_DEVICE: "cuda" },
    "core-reference-cuda-emulated",
  );
} else {
  failed += 1;
}

if (problems.length > 0) console.log(`\nproblems:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
if (failed === 0 && problems.length > 0) failed = problems.length;
console.log(`cuda-emulated: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
