// Finds and loads pillow_native.node lazily, on the first call that needs it (never at import).
// Order: PILLOW_NATIVE_PATH (if set, it is the only candidate), then a local cmake-js build, then
// the prebuilt platform package (@pillow/native-<platform>-<arch>[-cuda]). A candidate whose version
// differs from this package's is skipped: a stale build would otherwise fail in confusing ways. A
// -cuda package is used only when its device probe (backendInfo().cuda.devices) finds a GPU;
// otherwise it is skipped with the probe's reason, which backendInfo().loader reports.
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { AddonTypes } from "./AddonTypes.js";
import { type LoadAttempt, NativeAddonNotFoundError } from "./errors.js";
import { withKernelErrors } from "./native-errors.js";

const require = createRequire(import.meta.url);
const ADDON_FILE = "pillow_native.node";

let cachedAddon: AddonTypes | undefined;
let cachedReport: { path: string; skipped: LoadAttempt[] } | undefined;

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
  paths.push(...platformPackageAddonPaths());
  return paths;
}

/** The prebuilt packages for this platform, CUDA first when an NVIDIA device is present. */
function platformPackageAddonPaths(): string[] {
  const base = `@pillow/native-${process.platform}-${process.arch}`;
  const names =
    fs.existsSync("/dev/nvidia0") || process.env.PILLOW_PREFER_CUDA === "1"
      ? [`${base}-cuda`, base]
      : [base, `${base}-cuda`];
  const paths: string[] = [];
  for (const name of names) {
    try {
      paths.push(path.join(path.dirname(require.resolve(`${name}/package.json`)), ADDON_FILE));
    } catch {
      paths.push(`${name}/${ADDON_FILE}`); // not installed: kept so the error lists it
    }
  }
  return paths;
}

function packageVersion(): string | undefined {
  for (const candidate of ["../package.json", "../../package.json"]) {
    try {
      const json = require(candidate) as { name?: string; version?: string };
      if (json.name === "@pillow/lora-kernels") return json.version;
    } catch {
      // try the next layout (src/ in tests, dist/ when built)
    }
  }
  return undefined;
}

/** A prebuilt -cuda platform package (a local build is used as built, whatever its backend). */
function isCudaPackage(file: string): boolean {
  return /[\\/]native-[^\\/]+-cuda[\\/]/.test(file);
}

function tryLoad(file: string): { addon?: AddonTypes; reason?: string } {
  if (!path.isAbsolute(file)) return { reason: "package not installed" };
  if (!fs.existsSync(file)) return { reason: "no such file" };
  try {
    const addon = require(file) as AddonTypes;
    if (typeof addon.backendInfo !== "function")
      return { reason: "loaded, but it is not pillow's addon (no backendInfo)" };
    const expected = packageVersion();
    const info = addon.backendInfo();
    if (expected && info.version !== expected) {
      return { reason: `version ${info.version} does not match @pillow/lora-kernels ${expected} (rebuild it)` };
    }
    if (isCudaPackage(file) && !(info.cuda.devices > 0)) {
      return {
        reason: `CUDA device probe found no usable GPU (${info.cuda.error ?? "0 devices"}); using the CPU build`,
      };
    }
    return { addon };
  } catch (error) {
    return { reason: `failed to load: ${(error as Error).message.split("\n")[0]}` };
  }
}

/**
 * Loads the addon (once) or throws NativeAddonNotFoundError listing every path tried and why. Every
 * native failure with a stable code reaches callers as a KernelError (see native-errors.ts).
 */
export function loadAddon(): AddonTypes {
  if (cachedAddon) return cachedAddon;
  const attempts: LoadAttempt[] = [];
  for (const file of candidateAddonPaths()) {
    const { addon, reason } = tryLoad(file);
    if (addon) {
      cachedAddon = withKernelErrors(addon);
      cachedReport = { path: file, skipped: attempts };
      return cachedAddon;
    }
    attempts.push({ path: file, reason: reason ?? "unknown" });
  }
  throw new NativeAddonNotFoundError(attempts);
}

/** Which file loadAddon loaded and why it skipped the candidates before it (after a load). */
export function loaderReport(): { path: string; skipped: LoadAttempt[] } | undefined {
  return cachedReport;
}
