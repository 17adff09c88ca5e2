#!/usr/bin/env node
// Packs every public package (prebuilt addons included, rebuilt first) into dist-packs/, ready for
// `npm publish dist-packs/<file>.tgz`. Run through `pnpm release` after `changeset version`.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const out = path.join(root, "dist-packs");
fs.mkdirSync(out, { recursive: true });
function run(command, args, cwd) {
  const result = spawnSync(command, args, { cwd, stdio: "inherit" });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
run("pnpm", ["build"], root);
const dirs = [
  path.join(root, "native"),
  ...fs.readdirSync(path.join(root, "packages")).map((d) => path.join(root, "packages", d)),
];
for (const dir of dirs) {
  const json = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
  if (json.private) continue;
  if (json.scripts?.["prebuild-addon"]) run("pnpm", ["run", "prebuild-addon"], dir);
  run("pnpm", ["pack", "--pack-destination", out], dir);
}
console.log(`packed into ${out}`);
