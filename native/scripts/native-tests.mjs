#!/usr/bin/env node
// Builds and runs the native unit tests (test/*.cc) with plain CMake, outside Node.
//   node scripts/native-tests.mjs [--sanitize] [--cuda emulate|on]
//   --sanitize: AddressSanitizer + UBSan build. --cuda emulate: also the CUDA-vs-CPU tests
//   (test/cuda/) and the emulation's own tests (test/emulation/), every kernel on CPU threads;
//   --cuda on: the CUDA-vs-CPU tests on a real GPU (needs nvcc). --only PREFIX[,PREFIX...]: only the
//   tests whose names start with one of the prefixes (e.g. --only cuda_,emulation_).
// Prints the test binary's own summary line ("N passed, N failed").
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const nativeDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const sanitize = process.argv.includes("--sanitize");
const cudaIndex = process.argv.indexOf("--cuda");
const cuda = cudaIndex >= 0 ? process.argv[cudaIndex + 1] : "off";
if (!["off", "emulate", "on"].includes(cuda)) {
  console.error(`native-tests: --cuda must be off, emulate or on (got "${cuda}")`);
  process.exit(1);
}
const buildDir = path.join(
  nativeDir,
  `${sanitize ? "build-asan" : "build-tests"}${cuda === "off" ? "" : `-cuda-${cuda}`}`,
);

function run(command, args, env = process.env) {
  const result = spawnSync(command, args, { stdio: "inherit", env });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

run("cmake", [
  "-S",
  nativeDir,
  "-B",
  buildDir,
  `-DCMAKE_BUILD_TYPE=${sanitize ? "Debug" : "Release"}`,
  `-DPILLOW_SANITIZE=${sanitize ? "ON" : "OFF"}`,
  `-DPILLOW_CUDA=${cuda}`,
  "-DPILLOW_TESTS=ON",
]);
run("cmake", ["--build", buildDir, "--parallel", "2", "--target", "pillow_native_tests"]);
const onlyIndex = process.argv.indexOf("--only");
const only = onlyIndex >= 0 ? process.argv[onlyIndex + 1].split(",").filter(Boolean) : [];
run(path.join(buildDir, "pillow_native_tests"), only, {
  ...process.env,
  ASAN_OPTIONS: "detect_leaks=1:abort_on_error=0",
  UBSAN_OPTIONS: "print_stacktrace=1:halt_on_error=1",
});
