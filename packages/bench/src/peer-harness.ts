// The native peer harness (../native/peer_harness.cc: OpenBLAS GEMMs, an unfused LoRA, a read-
// bandwidth probe, a sort-based sampler), compiled here at bench time; it never ships in the addon.
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export type PeerResult = { median_ms: number; best_ms: number; cpu_median_ms: number; core?: string; bytes?: number; flops?: number; vector_bits?: number };

const harnessSource = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "native", "peer_harness.cc");

export function buildHarness(): string {
  const directory = path.join(os.tmpdir(), "pillow-bench");
  fs.mkdirSync(directory, { recursive: true });
  const binary = path.join(directory, "peer_harness");
  const fresh = fs.existsSync(binary) && fs.statSync(binary).mtimeMs > fs.statSync(harnessSource).mtimeMs;
  if (!fresh) {
    try {
      execFileSync("g++", ["-O2", "-std=c++17", "-pthread", harnessSource, "-o", binary, "-lopenblas"], {
        stdio: "inherit",
      });
    } catch {
      throw new Error("could not build the OpenBLAS peer harness: install g++ and libopenblas-dev (apt-get install libopenblas-dev)");
    }
  }
  return binary;
}

export function peer(binary: string, args: string[], coretype?: string, threads?: number): PeerResult | undefined {
  const env = { ...process.env };
  if (threads) env.OPENBLAS_NUM_THREADS = String(threads);
  if (coretype) env.OPENBLAS_CORETYPE = coretype;
  else delete env.OPENBLAS_CORETYPE;
  const result = spawnSync(binary, args, { env, encoding: "utf8", timeout: 300_000 });
  if (result.status !== 0) return undefined; // e.g. a coretype this CPU lacks (SIGILL)
  return JSON.parse(result.stdout.trim().split("\n").pop() ?? "{}") as PeerResult;
}

const pairSource = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "native", "gemm_pair.cc");
const nativeDirectory = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "native");

export type PairResult = { base_ms: number; fused_ms: number; sgemm_ms: number; core: string };

/**
 * The same-process pillow/OpenBLAS harness (../native/gemm_pair.cc), linked against the built
 * native core (native/build/libpillow_core.a); undefined when that library or OpenBLAS is missing.
 */
export function buildPairHarness(): string | undefined {
  const core = path.join(nativeDirectory, "build", "libpillow_core.a");
  if (!fs.existsSync(core)) return undefined;
  const directory = path.join(os.tmpdir(), "pillow-bench");
  fs.mkdirSync(directory, { recursive: true });
  const binary = path.join(directory, "gemm_pair");
  try {
    execFileSync(
      "g++",
      ["-O2", "-std=c++17", "-pthread", `-I${path.join(nativeDirectory, "src")}`, pairSource, core, "-o", binary, "-lopenblas"],
      { stdio: "inherit" },
    );
  } catch {
    return undefined;
  }
  return binary;
}
