#!/usr/bin/env node
// The project's test command (`pnpm test`): builds everything (the addon with CUDA when nvcc is
// there), runs the native unit tests (and, with CI=true or --sanitize, again under ASan + UBSan),
// then (CI, or --cuda-emulated) every CUDA kernel against its CPU op in the emulation build
// (scripts/test-cuda-emulated.mjs), then every package's vitest suite through turbo, and prints
// the totals as its last line:
//   N passed, N failed
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { countVitestReport } from "./vitest-report.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const sanitize = process.argv.includes("--sanitize") || process.env.CI === "true";
const reportDir = path.join(root, ".test-results");
fs.rmSync(reportDir, { recursive: true, force: true });
fs.mkdirSync(reportDir, { recursive: true });

let passed = 0;
let failed = 0;
const problems = [];

function run(label, command, args, options = {}) {
  console.log(`\n=== ${label}`);
  const result = spawnSync(command, args, {
    cwd: root,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    ...options,
  });
  process.stdout.write(result.stdout ?? "");
  process.stderr.write(result.stderr ?? "");
  if (result.status !== 0) problems.push(`${label} exited with ${result.status ?? result.signal}`);
  return result;
}

function countNative(result, label) {
  const match = /native: (\d+) passed, (\d+) failed/.exec(result.stdout ?? "");
  if (!match) {
    failed += 1;
    problems.push(`${label}: no summary line`);
    return;
  }
  passed += Number(match[1]);
  failed += Number(match[2]);
}

const build = run("build (turbo)", "pnpm", ["turbo", "run", "build", "--output-logs=errors-only"]);
if (build.status !== 0) {
  console.log("\nbuild failed: nothing was tested");
  console.log("0 passed, 1 failed");
  process.exit(1);
}

countNative(run("native unit tests", "node", ["native/scripts/native-tests.mjs"]), "native unit tests");
if (sanitize) {
  // With the CUDA emulation compiled in, so ASan and UBSan also watch every CUDA kernel's memory.
  countNative(
    run("native unit tests under AddressSanitizer + UBSan (with the CUDA emulation)", "node", [
      "native/scripts/native-tests.mjs",
      "--sanitize",
      "--cuda",
      "emulate",
    ]),
    "native sanitizer tests",
  );
}

// Every CUDA kernel against its CPU op without a GPU (CI, or --cuda-emulated).
if (process.env.CI === "true" || process.argv.includes("--cuda-emulated")) {
  const emulated = run("CUDA kernels in the emulation (test:cuda-emulated)", "node", [
    "scripts/test-cuda-emulated.mjs",
  ]);
  const match = /cuda-emulated: (\d+) passed, (\d+) failed/.exec(emulated.stdout ?? "");
  if (match) {
    passed += Number(match[1]);
    failed += Number(match[2]);
  } else {
    failed += 1;
    problems.push("test:cuda-emulated: no summary line");
  }
}

// libFuzzer targets (clang, ASan + UBSan), each for a bounded time (CI, or --fuzz).
if (process.env.CI === "true" || process.argv.includes("--fuzz")) {
  const fuzz = run("libFuzzer targets (native/fuzz)", "node", [
    "native/scripts/fuzz.mjs",
    "--seconds",
    process.env.PILLOW_FUZZ_SECONDS ?? "30",
  ]);
  const match = /fuzz: (\d+) passed, (\d+) failed/.exec(fuzz.stdout ?? "");
  if (match) {
    passed += Number(match[1]);
    failed += Number(match[2]);
  } else {
    failed += 1;
  }
}

// The packed packages, installed from tarballs in a fresh project (CI, or --pack).
if (process.env.CI === "true" || process.argv.includes("--pack")) {
  const status = run("changesets dry run (changeset status)", "pnpm", ["exec", "changeset", "status"]);
  if (status.status === 0) passed += 1;
  else failed += 1;
  const pack = run("packed packages in a fresh project", "node", ["scripts/pack-test.mjs"]);
  const match = /pack: (\d+) passed, (\d+) failed/.exec(pack.stdout ?? "");
  if (match) {
    passed += Number(match[1]);
    failed += Number(match[2]);
  } else {
    failed += 1;
  }
}

run("package tests (turbo → vitest)", "pnpm", ["turbo", "run", "test", "--concurrency=1", "--output-logs=full"], {
  env: { ...process.env, PILLOW_TEST_REPORT_DIR: reportDir },
});
const packageDirs = fs.readdirSync(path.join(root, "packages"));
for (const name of packageDirs) {
  const file = path.join(reportDir, `${name}.json`);
  if (!fs.existsSync(path.join(root, "packages", name, "src"))) continue; // e.g. prebuilt addon packages
  if (!fs.existsSync(file)) {
    const hasTests = fs
      .readdirSync(path.join(root, "packages", name, "src"), { recursive: true })
      .some((f) => String(f).endsWith(".test.ts"));
    if (hasTests) {
      failed += 1;
      problems.push(`@pillow/${name}: no test report (the suite did not run)`);
    }
    continue;
  }
  const counts = countVitestReport(file);
  passed += counts.passed;
  failed += counts.failed;
  problems.push(...counts.problems);
}

const fuzzCountsFile = path.join(reportDir, "fuzz-cases.json");
if (fs.existsSync(fuzzCountsFile)) {
  const counts = JSON.parse(fs.readFileSync(fuzzCountsFile, "utf8"));
  const total = Object.values(counts).reduce((sum, n) => sum + n, 0);
  console.log(`\nproperty-based fuzz cases (fast-check): ${total}`);
  for (const [target, n] of Object.entries(counts)) console.log(`  ${String(n).padStart(7)}  ${target}`);
}

if (problems.length > 0) console.log(`\nproblems:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
if (failed === 0 && problems.length > 0) failed = problems.length;
// Also on disk, written synchronously: .ci/run reads it if this output is cut short. exitCode (not
// process.exit) lets stdout drain before node exits.
fs.writeFileSync(path.join(reportDir, "summary.txt"), `${passed} passed, ${failed} failed\n`);
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
