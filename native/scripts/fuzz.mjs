#!/usr/bin/env node
// Builds the libFuzzer targets (fuzz/*_fuzz.cc) with clang + ASan + UBSan and runs each for a
// bounded time. Prints the runs per target and "fuzz: N passed, N failed" (one per target).
//   node scripts/fuzz.mjs [--seconds 30]
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const nativeDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const secondsIndex = process.argv.indexOf("--seconds");
const seconds = secondsIndex >= 0 ? Number(process.argv[secondsIndex + 1]) : 30;
const buildDir = path.join(nativeDir, "build-fuzz");

function mustRun(command, args) {
  const result = spawnSync(command, args, { stdio: "inherit" });
  if (result.status !== 0) {
    console.log("fuzz: 0 passed, 1 failed");
    process.exit(1);
  }
}
mustRun("cmake", [
  "-S",
  nativeDir,
  "-B",
  buildDir,
  "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
  "-DCMAKE_C_COMPILER=clang",
  "-DCMAKE_CXX_COMPILER=clang++",
  "-DPILLOW_FUZZ=ON",
  "-DPILLOW_TESTS=OFF",
  "-DPILLOW_CUDA=off",
]);
const targets = fs
  .readdirSync(path.join(nativeDir, "fuzz"))
  .filter((f) => f.endsWith("_fuzz.cc"))
  .map((f) => f.slice(0, -3));
mustRun("cmake", ["--build", buildDir, "--parallel", "2", "--target", ...targets]);

let passed = 0;
let failed = 0;
let totalRuns = 0;
for (const target of targets) {
  const corpus = fs.mkdtempSync(path.join(os.tmpdir(), `${target}-`));
  const result = spawnSync(
    path.join(buildDir, target),
    [
      corpus,
      `-max_total_time=${seconds}`,
      `-artifact_prefix=${os.tmpdir()}/`,
      "-seed=1",
      "-rss_limit_mb=2048",
      "-print_final_stats=1",
    ],
    {
      encoding: "utf8",
      env: { ...process.env, ASAN_OPTIONS: "detect_leaks=1", UBSAN_OPTIONS: "print_stacktrace=1:halt_on_error=1" },
    },
  );
  fs.rmSync(corpus, { recursive: true, force: true });
  const runs = Number(/stat::number_of_executed_units:\s*(\d+)/.exec(result.stderr)?.[1] ?? 0);
  totalRuns += runs;
  if (result.status === 0 && runs > 0) {
    passed++;
    console.log(`ok   ${target}: ${runs} inputs in ${seconds} s, no crash`);
  } else {
    failed++;
    console.log(`FAIL ${target} (exit ${result.status}):\n${result.stderr.slice(-4000)}`);
  }
}
console.log(`fuzz inputs tried: ${totalRuns}`);
console.log(`fuzz: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
