// The native peer harness (../native/peer_harness.cc: OpenBLAS GEMMs, an unfused LoRA, a read-
// bandwidth probe, a sort-based sampler), compiled here at bench time; it never ships in the addon.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export type PeerResult = {
  median_ms: number;
  best_ms: number;
  cpu_median_ms: number;
  core?: string;
  bytes?: number;
  flops?: number;
  vector_bits?: number;
};

const harnessSource = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "native", "peer_harness.cc");

/**
 * The folder for a harness binary built from `source`: named after the source's path and content, so
 * checkouts sharing one machine (the OS temp folder is shared) never run each other's builds of an
 * older or newer harness.
 */
function binaryDirectory(...sources: string[]): string {
  const hash = createHash("sha256");
  for (const source of sources) hash.update(source).update(fs.readFileSync(source));
  const directory = path.join(os.tmpdir(), "pillow-bench", hash.digest("hex").slice(0, 16));
  fs.mkdirSync(directory, { recursive: true });
  return directory;
}

export function buildHarness(): string {
  const binary = path.join(binaryDirectory(harnessSource), "peer_harness");
  if (!fs.existsSync(binary)) {
    try {
      // Built under a name of its own, then renamed: another bench starting now never runs half a file.
      const building = `${binary}.${process.pid}`;
      execFileSync("g++", ["-O2", "-std=c++17", "-pthread", harnessSource, "-o", building, "-lopenblas"], {
        stdio: "inherit",
      });
      fs.renameSync(building, binary);
    } catch {
      throw new Error(
        "could not build the OpenBLAS peer harness: install g++ and libopenblas-dev (apt-get install libopenblas-dev)",
      );
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
  const binary = path.join(binaryDirectory(pairSource, core), "gemm_pair");
  try {
    const building = `${binary}.${process.pid}`;
    execFileSync(
      "g++",
      [
        "-O2",
        "-std=c++17",
        "-pthread",
        `-I${path.join(nativeDirectory, "src")}`,
        pairSource,
        core,
        "-o",
        building,
        "-lopenblas",
      ],
      { stdio: "inherit" },
    );
    fs.renameSync(building, binary);
  } catch {
    return undefined;
  }
  return binary;
}
