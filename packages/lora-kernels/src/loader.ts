// Finds and loads pillow_native.node lazily, on the first call that needs it (never at import).
// Order: PILLOW_NATIVE_PATH (if set, it is the only candidate), then the local cmake-js build.
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { AddonTypes } from "./AddonTypes.js";
import { type LoadAttempt, NativeAddonNotFoundError } from "./errors.js";

const require = createRequire(import.meta.url);
const ADDON_FILE = "pillow_native.node";

let cachedAddon: AddonTypes | undefined;

function nativeBuildDirectories(): string[] {
  const directories: string[] = [];
  try {
    directories.push(path.dirname(require.resolve("@pillow/native/package.json")));
  } catch {
    // not installed as a package: fall back to the repository layout below
  }
  // packages/lora-kernels/{src,dist}/ -> native/
  const here = path.dirname(fileURLToPath(import.meta.url));
  directories.push(path.resolve(here, "..", "..", "..", "native"));
  return [...new Set(directories)];
}

/** Every path the loader would try, in order. */
export function candidateAddonPaths(): string[] {
  const override = process.env.PILLOW_NATIVE_PATH;
  if (override) return [path.resolve(override)];
  const paths: string[] = [];
  for (const dir of nativeBuildDirectories()) {
    paths.push(path.join(dir, "build", "Release", ADDON_FILE), path.join(dir, "build", "Debug", ADDON_FILE));
  }
  return paths;
}

function tryLoad(file: string): { addon?: AddonTypes; reason?: string } {
  if (!fs.existsSync(file)) return { reason: "no such file" };
  try {
    const addon = require(file) as AddonTypes;
    if (typeof addon.backendInfo !== "function") return { reason: "loaded, but it is not pillow's addon (no backendInfo)" };
    return { addon };
  } catch (error) {
    return { reason: `failed to load: ${(error as Error).message.split("\n")[0]}` };
  }
}

/** Loads the addon (once) or throws NativeAddonNotFoundError listing every path tried and why. */
export function loadAddon(): AddonTypes {
  if (cachedAddon) return cachedAddon;
  const attempts: LoadAttempt[] = [];
  for (const file of candidateAddonPaths()) {
    const { addon, reason } = tryLoad(file);
    if (addon) {
      cachedAddon = addon;
      return addon;
    }
    attempts.push({ path: file, reason: reason ?? "unknown" });
  }
  throw new NativeAddonNotFoundError(attempts);
}
