#!/usr/bin/env node
// Builds and runs the native unit tests (test/*.cc) with plain CMake, outside Node.
//   node scripts/native-tests.mjs [--sanitize]   --sanitize: AddressSanitizer + UBSan build
// Prints the test binary's own summary line ("N passed, N failed").
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const nativeDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const sanitize = process.argv.includes("--sanitize");
const buildDir = path.join(nativeDir, sanitize ? "build-asan" : "build-tests");

function run(command, args, env = process.env) {
  const result = spawnSync(command, args, { stdio: "inherit", env });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

run("cmake", [
  "-S", nativeDir, "-B", buildDir,
  `-DCMAKE_BUILD_TYPE=${sanitize ? "Debug" : "Release"}`,
  `-DPILLOW_SANITIZE=${sanitize ? "ON" : "OFF"}`,
  "-DPILLOW_CUDA=off", "-DPILLOW_TESTS=ON",
]);
run("cmake", ["--build", buildDir, "--parallel", "2", "--target", "pillow_native_tests"]);
run(path.join(buildDir, "pillow_native_tests"), [], {
  ...process.env,
  ASAN_OPTIONS: "detect_leaks=1:abort_on_error=0",
  UBSAN_OPTIONS: "print_stacktrace=1:halt_on_error=1",
});
