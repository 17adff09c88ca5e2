// The host every ratio was measured on: the CPU (lscpu's model name, family and model number),
// the SIMD extensions that decide which kernels run (AVX2, AVX-512 and its BF16/VNNI/FP16
// extensions, AMX), and OpenBLAS's best coretype on it. Machines of this kind land on different
// hosts, so a ratio means nothing without the host beside it.
import { spawnSync } from "node:child_process";
import os from "node:os";
import { type PeerResult, peer } from "./peer-harness.js";

/** The lscpu flags that name an instruction set the kernels or the peers can use, in this order. */
const ISA_FLAGS = [
  "avx2",
  "fma",
  "avx512f",
  "avx512bw",
  "avx512vl",
  "avx512dq",
  "avx512_bf16",
  "avx512_vnni",
  "avx512_fp16",
  "amx_bf16",
] as const;

export type Host = { model: string; family: string; modelNumber: string; flags: string[] };

let cachedHost: Host | undefined;

/** The CPU from lscpu (falling back to Node's view of it when lscpu is missing). */
export function describeHost(): Host {
  if (cachedHost) return cachedHost;
  const run = spawnSync("lscpu", [], { encoding: "utf8", env: { ...process.env, LC_ALL: "C" } });
  const field = (name: string) =>
    run.status === 0
      ? (run.stdout
          .split("\n")
          .find((line) => line.startsWith(`${name}:`))
          ?.slice(name.length + 1)
          .trim() ?? "")
      : "";
  const present = new Set(field("Flags").split(/\s+/));
  cachedHost = {
    model: field("Model name") || (os.cpus()[0]?.model ?? "unknown CPU"),
    family: field("CPU family") || "?",
    modelNumber: field("Model") || "?",
    flags: ISA_FLAGS.filter((flag) => present.has(flag)),
  };
  return cachedHost;
}

/** The widest vectors the host's FMA units take, in bits (the FMA probe uses the same). */
export function vectorBits(host: Host = describeHost()): number {
  return host.flags.includes("avx512f") ? 512 : host.flags.includes("avx2") ? 256 : 128;
}

/**
 * The OpenBLAS coretypes the bench tries: unset (auto-detected), then the named kernels Debian's
 * OpenBLAS 0.3.21 ships for x86-64 hosts of this kind (a named one the CPU cannot run fails and is
 * skipped; one the library maps to another reports the one it ran, e.g. SapphireRapids → Cooperlake).
 */
export const OPENBLAS_CORETYPES = [undefined, "Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"] as const;

export type OpenBlasBest = {
  /** The coretype to set (undefined: leave OPENBLAS_CORETYPE unset). */
  coretype: string | undefined;
  /** What the table prints: the name set and the kernel OpenBLAS reported running. */
  label: string;
  result: PeerResult;
  /** Every coretype tried, with its median time (ms) or undefined when it failed. */
  tried: { label: string; medianMs: number | undefined }[];
};

/** OpenBLAS sgemm M×N×K (C = A·Bᵀ) at each coretype in OPENBLAS_CORETYPES; the fastest one. */
export function openBlasBestCoretype(
  binary: string,
  m: number,
  n: number,
  k: number,
  repeats: number,
  threads?: number,
): OpenBlasBest {
  let best: OpenBlasBest | undefined;
  const tried: OpenBlasBest["tried"] = [];
  for (const coretype of OPENBLAS_CORETYPES) {
    const result = peer(binary, ["sgemm", `${m}`, `${n}`, `${k}`, `${repeats}`], coretype, threads);
    const ran = result?.core ?? "?";
    const label =
      coretype === undefined ? `unset (auto: ${ran})` : ran === coretype ? coretype : `${coretype} (runs ${ran})`;
    tried.push({ label, medianMs: result?.median_ms });
    if (result && (!best || result.median_ms < best.result.median_ms)) best = { coretype, label, result, tried };
  }
  if (!best)
    throw new Error(
      `OpenBLAS sgemm ${m}x${n}x${k} failed for every coretype (${OPENBLAS_CORETYPES.map((c) => c ?? "unset").join(", ")})`,
    );
  return best;
}

/** The host line printed beside every ratio: CPU, ISA flags, OpenBLAS's best coretype. */
export function hostLine(best?: OpenBlasBest, host: Host = describeHost()): string {
  const cpu = `${host.model} (family ${host.family}, model ${host.modelNumber})`;
  const blas = best ? `; OpenBLAS best coretype ${best.label}` : "";
  return `${cpu}, ${host.flags.join(" ") || "no AVX2"}${blas}`;
}

/** The short form of hostLine for a table column: family/model, widest ISA and extensions, OpenBLAS's best. */
export function hostTag(best?: OpenBlasBest, host: Host = describeHost()): string {
  const widest = host.flags.includes("avx512f") ? "avx512" : host.flags.includes("avx2") ? "avx2" : "sse";
  const extensions = [
    ["avx512_bf16", "bf16"],
    ["avx512_vnni", "vnni"],
    ["amx_bf16", "amx"],
  ]
    .filter(([flag]) => host.flags.includes(flag))
    .map(([, name]) => name);
  const isa = [widest, ...extensions].join("+");
  return `${host.family}/${host.modelNumber} ${isa}${best ? `, OpenBLAS ${best.label}` : ""}`;
}
