#!/usr/bin/env node
// Builds pillow_native.node with cmake-js, offline: Node's headers come from the running Node
// installation (…/include/node), never from a download.
//   node scripts/build.mjs [--debug] [--cuda auto|on|off|emulate] [--build-dir DIR] [--copy-to DIR]
//   env: PILLOW_CUDA=auto|on|off|emulate (default auto; --cuda wins; emulate runs the CUDA kernels
//   on CPU threads, for tests without a GPU). --build-dir is relative to native/
//   (default build/); --copy-to copies the built pillow_native.node there (prebuilt packages).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const nativeDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const debug = process.argv.includes("--debug");
function flag(name) {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1] : undefined;
}
const buildDir = path.resolve(nativeDir, flag("--build-dir") ?? "build");
const copyTo = flag("--copy-to");

function findNodeHeaders() {
  const candidates = [
    process.env.npm_config_nodedir,
    path.resolve(path.dirname(process.execPath), ".."),
    "/usr",
    "/usr/local",
  ].filter(Boolean);
  for (const dir of candidates) {
    if (fs.existsSync(path.join(dir, "include", "node", "node_api.h"))) return dir;
  }
  return null;
}

const nodeDir = findNodeHeaders();
if (!nodeDir) {
  console.error(
    "pillow native build: Node's C headers (include/node/node_api.h) were not found next to " +
      `${process.execPath}. Install Node.js with its headers (the official tarball or your distribution's ` +
      "nodejs-dev package), or set npm_config_nodedir to the folder that contains include/node.",
  );
  process.exit(1);
}

const cuda = flag("--cuda") ?? process.env.PILLOW_CUDA ?? "auto";
if (!["auto", "on", "off", "emulate"].includes(cuda)) {
  console.error(`pillow native build: PILLOW_CUDA must be auto, on, off or emulate (got "${cuda}")`);
  process.exit(1);
}
// A build folder configured for another checkout (turbo restores build/** from its cache, and the
// cache is keyed by the sources' content, not their path: a worktree's build folder, CMakeCache.txt
// and all, came back into another checkout, whose next incremental build then compiled the other
// checkout's sources) is configured afresh here.
const cacheFile = path.join(buildDir, "CMakeCache.txt");
if (fs.existsSync(cacheFile)) {
  const home = /^CMAKE_HOME_DIRECTORY:INTERNAL=(.*)$/m.exec(fs.readFileSync(cacheFile, "utf8"))?.[1];
  if (home !== undefined && path.resolve(home) !== nativeDir) {
    console.log(`pillow native build: ${buildDir} was configured for ${home}; configuring it for ${nativeDir}`);
    fs.rmSync(cacheFile);
    fs.rmSync(path.join(buildDir, "CMakeFiles"), { recursive: true, force: true });
  }
}

const version = JSON.parse(fs.readFileSync(path.join(nativeDir, "package.json"), "utf8")).version;
const cmakeJs = path.join(nativeDir, "node_modules", "cmake-js", "bin", "cmake-js");
const args = [
  cmakeJs,
  "compile",
  "--directory",
  nativeDir,
  "--out",
  buildDir,
  ...(debug ? ["--debug"] : []),
  "--parallel",
  String(Math.max(2, (await import("node:os")).availableParallelism())),
  `--CDPILLOW_CUDA=${cuda}`,
  `--CDPILLOW_VERSION=${version}`,
  "--CDPILLOW_TESTS=OFF",
];
const started = Date.now();
const result = spawnSync(process.execPath, args, {
  stdio: "inherit",
  env: { ...process.env, npm_config_nodedir: nodeDir },
});
if (result.status !== 0) {
  console.error("pillow native build failed (see the compiler output above).");
  process.exit(result.status ?? 1);
}
if (copyTo) {
  const built = path.join(buildDir, debug ? "Debug" : "Release", "pillow_native.node");
  fs.mkdirSync(path.resolve(copyTo), { recursive: true });
  fs.copyFileSync(built, path.join(path.resolve(copyTo), "pillow_native.node"));
  console.log(`pillow native build: copied ${built} to ${path.resolve(copyTo)}`);
}
console.log(`pillow native build: done in ${((Date.now() - started) / 1000).toFixed(1)} s (CUDA=${cuda})`);
