// Screenshots through headless Chromium (Debian's `chromium`), used to check that the report renders
// in a real browser. Every run gets a fresh profile and no network features, and is killed on timeout.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const CANDIDATES = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];

/** The browser binary: $PILLOW_CHROMIUM, else the first of the usual names on PATH. */
export function findChromium(): string | undefined {
  const configured = process.env.PILLOW_CHROMIUM;
  if (configured) return configured;
  for (const directory of (process.env.PATH ?? "").split(path.delimiter)) {
    for (const name of CANDIDATES) {
      const candidate = path.join(directory, name);
      try {
        fs.accessSync(candidate, fs.constants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

export type ScreenshotOptions = { width: number; height: number; timeoutMs?: number; binary?: string };

export async function screenshot(url: string, file: string, options: ScreenshotOptions): Promise<void> {
  const binary = options.binary ?? findChromium();
  if (!binary)
    throw new Error("no Chromium found — install it (Debian: apt-get install chromium) or set PILLOW_CHROMIUM");
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-chromium-"));
  const args = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    `--user-data-dir=${profile}`,
    `--screenshot=${file}`,
    `--window-size=${options.width},${options.height}`,
    url,
  ];
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(binary, args, { stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (chunk) => {
        stderr = (stderr + chunk).slice(-4000);
      });
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`chromium did not finish within ${options.timeoutMs ?? 60_000} ms`));
      }, options.timeoutMs ?? 60_000);
      child.on("error", (error) => {
        clearTimeout(timer);
        reject(new Error(`could not start ${binary}: ${error.message}`));
      });
      child.on("exit", (code) => {
        clearTimeout(timer);
        if (code === 0 && fs.existsSync(file)) resolve();
        else reject(new Error(`chromium exited with ${code} and no screenshot:\n${stderr}`));
      });
    });
  } finally {
    fs.rmSync(profile, { recursive: true, force: true });
  }
}
