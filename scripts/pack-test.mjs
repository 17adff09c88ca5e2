#!/usr/bin/env node
// Packs every public package, checks each with publint and @arethetypeswrong/cli, installs the
// tarballs with npm into a fresh project outside the workspace (no workspace links), and runs what
// a user would run there. Prints "pack: N passed, N failed" and the installed size of each package.
//   node scripts/pack-test.mjs [--keep]
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-pack-"));
const packs = path.join(work, "packs");
const app = path.join(work, "app");
fs.mkdirSync(packs);
fs.mkdirSync(app);

let passed = 0;
let failed = 0;
function check(name, ok, detail = "") {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${detail ? `\n     ${detail.trim().split("\n").join("\n     ")}` : ""}`);
}
function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, ...options });
  return { ok: result.status === 0, output: `${result.stdout ?? ""}${result.stderr ?? ""}` };
}

// 1. The prebuilt addon packages (CPU always; CUDA when nvcc is there).
const prebuilt = ["native-linux-x64"];
if (run("sh", ["-c", "command -v nvcc || test -x /usr/local/cuda/bin/nvcc"]).ok) prebuilt.push("native-linux-x64-cuda");
for (const name of prebuilt) {
  const result = run("pnpm", ["run", "prebuild-addon"], {
    cwd: path.join(root, "packages", name),
    env: { ...process.env, PATH: `${process.env.PATH}:/usr/local/cuda/bin` },
  });
  check(`prebuilt addon @pillow/${name} builds`, result.ok, result.ok ? "" : result.output.slice(-2000));
}

// 2. Pack every public package.
const packageDirs = [
  path.join(root, "native"),
  ...fs.readdirSync(path.join(root, "packages")).map((d) => path.join(root, "packages", d)),
];
const publicPackages = packageDirs.filter((dir) => {
  const file = path.join(dir, "package.json");
  if (!fs.existsSync(file)) return false;
  const json = JSON.parse(fs.readFileSync(file, "utf8"));
  if (json.private) return false;
  if (json.name.startsWith("@pillow/native-") && !prebuilt.includes(json.name.slice("@pillow/".length))) return false;
  return true;
});
const tarballs = [];
for (const dir of publicPackages) {
  const name = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")).name;
  const result = run("pnpm", ["pack", "--pack-destination", packs], { cwd: dir });
  const tarball = result.output
    .trim()
    .split("\n")
    .map((line) => line.trim())
    .find((line) => line.endsWith(".tgz"));
  check(`pack ${name}`, result.ok && !!tarball, result.ok ? "" : result.output.slice(-1500));
  if (!tarball) continue;
  tarballs.push(path.isAbsolute(tarball) ? tarball : path.join(packs, path.basename(tarball)));
  const listing = run("tar", ["-tzf", tarballs.at(-1)]).output.split("\n");
  const unwanted = listing.filter((file) =>
    /\.test\.|\/test-tools\/|\/build\/|\/fixtures\/|tsconfig|vitest\.config|tsup\.config/.test(file),
  );
  check(`${name} ships no tests, fixtures or build trees`, unwanted.length === 0, unwanted.slice(0, 5).join("\n"));
  const lint = run("pnpm", ["exec", "publint", "--strict", dir], { cwd: root });
  check(`publint ${name}`, lint.ok, lint.ok ? "" : lint.output.slice(-1500));
  if (!name.startsWith("@pillow/native")) {
    const types = run("pnpm", ["exec", "attw", tarballs.at(-1), "--profile", "esm-only", "--format", "ascii"], {
      cwd: root,
    });
    check(`attw ${name}`, types.ok, types.ok ? "" : types.output.slice(-1500));
  }
}

// 3. Install the tarballs in a fresh project, the way a user would.
fs.writeFileSync(
  path.join(app, "package.json"),
  JSON.stringify({ name: "pillow-pack-test", private: true, type: "module" }),
);
const install = run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", ...tarballs], { cwd: app });
check(
  "npm install of the packed tarballs in a fresh project",
  install.ok,
  install.ok ? "" : install.output.slice(-3000),
);

if (install.ok) {
  const env = { ...process.env };
  delete env.PILLOW_NATIVE_PATH;
  delete env.NODE_PATH;
  // The installed addon must come from the prebuilt package, not from the workspace.
  fs.writeFileSync(
    path.join(app, "kernels-check.mjs"),
    `import { backendInfo, candidateAddonPaths, matmul } from "@pillow/lora-kernels";
const info = backendInfo();
console.log(JSON.stringify(info));
// x = [[1, 2]], w = [[3, 4], [5, 6]] -> y = x·wᵀ = [[11, 17]]
const y = Array.from(matmul(new Float32Array([1, 2]), new Float32Array([3, 4, 5, 6]), { tokens: 1, inFeatures: 2, outFeatures: 2 }));
if (JSON.stringify(y) !== "[11,17]") throw new Error("matmul gave " + JSON.stringify(y));
if (candidateAddonPaths().some((p) => p.startsWith(${JSON.stringify(root)}))) throw new Error("the workspace leaked into the install");
console.log("kernels ok", JSON.stringify(y));
`,
  );
  const kernels = run(process.execPath, ["kernels-check.mjs"], { cwd: app, env });
  check(
    "installed @pillow/lora-kernels loads the prebuilt addon and computes a hand-checked case",
    kernels.ok,
    kernels.output,
  );
  const info = run("npx", ["--no-install", "pillow", "info"], { cwd: app, env });
  check("npx pillow info from the installed @pillow/cli", info.ok && info.output.includes("cpu:"), info.output);
  // Each README's "Quick start" block, run as written against the installed packages.
  for (const name of ["lora-kernels", "core", "suite", "matcher", "rl", "replay"]) {
    const readme = fs.readFileSync(path.join(root, "packages", name, "README.md"), "utf8");
    const block = /## Quick start[^\n]*\n+```js\n([\s\S]*?)```/.exec(readme)?.[1];
    check(`@pillow/${name} README has a Quick start block`, !!block);
    if (!block) continue;
    fs.writeFileSync(path.join(app, `readme-${name}.mjs`), block);
    const result = run(process.execPath, [`readme-${name}.mjs`], { cwd: app, env });
    check(
      `@pillow/${name} README Quick start runs as written against the installed packages`,
      result.ok,
      result.output,
    );
  }
  const demo = run("npx", ["--no-install", "pillow", "demo", "--quick", "--json", "out.json", "--out", "demo-report"], {
    cwd: app,
    env,
  });
  let demoSummaryOk = false;
  if (demo.ok && fs.existsSync(path.join(app, "out.json"))) {
    const summary = JSON.parse(fs.readFileSync(path.join(app, "out.json"), "utf8"));
    demoSummaryOk = !!summary.continual && !!summary.matching && Number.isFinite(summary.seconds);
  }
  check(
    "npx pillow demo --quick --json out.json from the installed @pillow/cli",
    demo.ok && demoSummaryOk,
    demo.output.slice(-3000),
  );
  // Installed sizes, for the release notes.
  const sizes = run("sh", ["-c", "du -sk node_modules/@pillow/* | sort -n"], { cwd: app }).output.trim();
  console.log(`installed sizes (KiB):\n${sizes}`);
}

if (!process.argv.includes("--keep")) fs.rmSync(work, { recursive: true, force: true });
else console.log(`kept ${work}`);
console.log(`pack: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
