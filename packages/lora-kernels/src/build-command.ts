#!/usr/bin/env node
// `npx @pillow/lora-kernels build [--cuda auto|on|off] [--debug]`: compiles pillow_native.node from
// the sources in @pillow/native with cmake-js. Nothing is downloaded; needs cmake and a C++17 compiler.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);
const [command, ...rest] = process.argv.slice(2);
if (command !== "build") {
  console.error("usage: npx @pillow/lora-kernels build [--cuda auto|on|off] [--debug]");
  process.exit(command === undefined || command === "--help" ? 0 : 2);
}
let nativeDir: string;
try {
  nativeDir = path.dirname(require.resolve("@pillow/native/package.json"));
} catch {
  console.error(
    "@pillow/native (the addon's sources) is not installed next to @pillow/lora-kernels; npm i @pillow/native",
  );
  process.exit(1);
}
const result = spawnSync(process.execPath, [path.join(nativeDir, "scripts", "build.mjs"), ...rest], {
  stdio: "inherit",
});
process.exit(result.status ?? 1);
