#!/usr/bin/env node
// The import-direction check (run by `pnpm lint`, so by CI): every import of a @pillow package, in
// every package's sources, tests and scripts, must follow an edge of LAYERS below, and every edge a
// package uses must be declared in its package.json. Shipped code (src/, not tests) may use only
// runtime edges; tests and experiment scripts may also use the dev-only edges. Anything else — a
// back-edge, a layer skipped, an undeclared import — fails with the file and line.
//   node scripts/check-layers.mjs            check the tree (exit 1 on a violation)
//   node scripts/check-layers.mjs --diagram  print the dependency diagram the README shows
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Who may import whom. `runtime`: shipped code; `dev`: tests and scripts only. */
const LAYERS = {
  "@pillow/lora-kernels": { runtime: [], dev: [] },
  "@pillow/core": { runtime: ["@pillow/lora-kernels"], dev: [] },
  "@pillow/matcher": { runtime: ["@pillow/core"], dev: [] },
  "@pillow/suite": { runtime: ["@pillow/core"], dev: [] },
  "@pillow/replay": { runtime: ["@pillow/core"], dev: ["@pillow/suite"] },
  "@pillow/rl": { runtime: ["@pillow/core", "@pillow/matcher"], dev: ["@pillow/suite"] },
  "@pillow/cli": {
    runtime: ["@pillow/core", "@pillow/matcher", "@pillow/rl", "@pillow/replay", "@pillow/suite"],
    dev: [],
  },
  // Tools, never depended on: the benchmarks and the fuzz/crash tests reach the kernels directly.
  "@pillow/bench": {
    runtime: ["@pillow/core", "@pillow/lora-kernels", "@pillow/replay", "@pillow/suite", "@pillow/cli"],
    dev: [],
  },
  "@pillow/reliability": { runtime: ["@pillow/core", "@pillow/lora-kernels", "@pillow/cli"], dev: [] },
};
/** Packages without TypeScript of their own (the addon and its prebuilt copies). */
const NATIVE_PACKAGES = new Set(["@pillow/native", "@pillow/native-linux-x64", "@pillow/native-linux-x64-cuda"]);

const SOURCE = /\.(?:[cm]?[jt]s)$/;
// `import … from "@pillow/x"`, `export … from`, `import "@pillow/x"`, `import("@pillow/x")`, `require("@pillow/x")`.
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)["'](@pillow\/[a-z0-9-]+)(?:\/[^"']*)?["']/g;

function sourceFiles(directory) {
  if (!fs.existsSync(directory)) return [];
  const files = [];
  for (const entry of fs.readdirSync(directory, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name === "dist") continue;
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) files.push(...sourceFiles(full));
    else if (SOURCE.test(entry.name) && !entry.name.endsWith(".d.ts")) files.push(full);
  }
  return files;
}

/** Tests, test helpers and scripts may use dev-only edges; everything else under src/ ships. */
function isDevOnly(relativePath) {
  return (
    !relativePath.startsWith("src/") ||
    /\.test\.[cm]?[jt]s$/.test(relativePath) ||
    /(^|\/)test-[^/]*$/.test(relativePath)
  );
}

/**
 * The violations of one package: `files` are { path (relative to the package), text }, `manifest` its
 * package.json. Pure, so the planted back-edge below can exercise it without touching the tree.
 */
export function packageViolations(name, manifest, files) {
  const layer = LAYERS[name];
  if (!layer) return [`${name}: not in scripts/check-layers.mjs's LAYERS (add it with the edges it may use)`];
  const declared = new Set([
    ...Object.keys(manifest.dependencies ?? {}),
    ...Object.keys(manifest.peerDependencies ?? {}),
  ]);
  const declaredDev = new Set(Object.keys(manifest.devDependencies ?? {}));
  const problems = [];
  for (const dependency of declared) {
    if (dependency.startsWith("@pillow/") && !NATIVE_PACKAGES.has(dependency) && !layer.runtime.includes(dependency)) {
      problems.push(
        `${name}/package.json: depends on ${dependency}, which ${name} may not use (allowed: ${layer.runtime.join(", ") || "none"})`,
      );
    }
  }
  for (const file of files) {
    const lines = file.text.split("\n");
    lines.forEach((line, index) => {
      for (const match of line.matchAll(IMPORT)) {
        const target = match[1];
        if (target === name) continue;
        const where = `${name}/${file.path}:${index + 1}`;
        const devOnly = isDevOnly(file.path);
        if (layer.runtime.includes(target)) {
          if (!declared.has(target)) problems.push(`${where}: imports ${target}, not in package.json's dependencies`);
        } else if (layer.dev.includes(target)) {
          if (!devOnly) problems.push(`${where}: shipped code imports ${target}, which only tests and scripts may use`);
          else if (!declared.has(target) && !declaredDev.has(target))
            problems.push(`${where}: imports ${target}, not in package.json`);
        } else {
          problems.push(
            `${where}: imports ${target} — not an edge of the layers (${name} may use ${[...layer.runtime, ...layer.dev].join(", ") || "nothing"})`,
          );
        }
      }
    });
  }
  return problems;
}

/** The diagram the README shows, drawn from LAYERS. */
export function diagram() {
  const rows = Object.entries(LAYERS).map(([name, layer]) => {
    const runtime = layer.runtime.length > 0 ? layer.runtime.join(", ") : "@pillow/native (the addon)";
    const dev = layer.dev.length > 0 ? `   (tests and scripts also: ${layer.dev.join(", ")})` : "";
    return `${name.padEnd(20)} → ${runtime}${dev}`;
  });
  return rows.join("\n");
}

function checkTree(root) {
  const packagesDirectory = path.join(root, "packages");
  const problems = [];
  for (const directory of fs.readdirSync(packagesDirectory).sort()) {
    const manifestPath = path.join(packagesDirectory, directory, "package.json");
    if (!fs.existsSync(manifestPath)) continue;
    const manifest = JSON.parse(fs.readFileSync(manifestPath, "utf8"));
    if (NATIVE_PACKAGES.has(manifest.name)) continue;
    const packageRoot = path.join(packagesDirectory, directory);
    const files = sourceFiles(packageRoot).map((file) => ({
      path: path.relative(packageRoot, file).split(path.sep).join("/"),
      text: fs.readFileSync(file, "utf8"),
    }));
    problems.push(...packageViolations(manifest.name, manifest, files));
  }
  const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
  if (!readme.includes(diagram())) {
    problems.push(
      "README.md: the dependency diagram differs from scripts/check-layers.mjs's LAYERS (paste `node scripts/check-layers.mjs --diagram`)",
    );
  }
  return problems;
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  if (process.argv.includes("--diagram")) {
    console.log(diagram());
  } else {
    // The check must be able to fail: a planted back-edge (core importing the CLI) has to be caught.
    const planted = packageViolations("@pillow/core", { dependencies: { "@pillow/lora-kernels": "*" } }, [
      { path: "src/planted.ts", text: 'import { program } from "@pillow/cli";\n' },
    ]);
    if (planted.length !== 1) {
      console.error("check-layers: the planted back-edge core → cli was not caught; the check is broken");
      process.exit(2);
    }
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
    const problems = checkTree(root);
    if (problems.length > 0) {
      console.error(
        `check-layers: ${problems.length} import(s) against the layers:\n${problems.map((problem) => `  ${problem}`).join("\n")}`,
      );
      process.exit(1);
    }
    console.log(`check-layers: every @pillow import follows the layers (${Object.keys(LAYERS).length} packages)`);
  }
}
