// `pnpm bench kernels`: pillow's CPU kernels against OpenBLAS (Debian's libopenblas) and a
// sort-based sampler, every ratio measured in the same run. The peer harness (../native/
// peer_harness.cc) is compiled here, at bench time, and never ships in the addon.
import { spawnSync } from "node:child_process";
import os from "node:os";
import {
  backendInfo,
  type LoraAdapter,
  loraMatmul,
  loraMatmulMulti,
  matmul,
  sample,
  setThreads,
  toBf16,
} from "@pillow/lora-kernels";
import { hostLine, hostTag, openBlasBestCoretype } from "./host.js";
import { buildHarness, buildPairHarness, type PairResult, peer } from "./peer-harness.js";

const REPEATS = Number(process.env.PILLOW_BENCH_REPEATS ?? 7);

type Row = { what: string; ours: string; peer: string; ratio: string; note: string; host?: string };

/** Median and best wall time, and median process CPU time, of `body` in ms, after one warm-up call. */
function time(body: () => unknown, repeats = REPEATS): { median: number; best: number; cpu: number } {
  body();
  const times: number[] = [];
  const cpuTimes: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    body();
    times.push(performance.now() - start);
    const cpu = process.cpuUsage(cpuStart);
    cpuTimes.push((cpu.user + cpu.system) / 1000);
  }
  times.sort((a, b) => a - b);
  cpuTimes.sort((a, b) => a - b);
  return {
    median: times[Math.floor(times.length / 2)],
    best: times[0],
    cpu: cpuTimes[Math.floor(cpuTimes.length / 2)],
  };
}

function random(length: number, scale = 1): Float32Array {
  const values = new Float32Array(length);
  let state = 12345;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    values[i] = ((state / 4294967296) * 2 - 1) * scale;
  }
  return values;
}

const gflops = (flops: number, ms: number) => (flops / ms / 1e6).toFixed(1);

/** Rounds of alternating pillow/OpenBLAS timings for the GEMM rows (median over rounds). */
const ROUNDS = Number(process.env.PILLOW_BENCH_ROUNDS ?? 3);

function median(values: number[]): number {
  const sorted = [...values].sort((p, q) => p - q);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export async function kernelsSuite(): Promise<void> {
  const binary = buildHarness();
  const info = backendInfo();
  const rows: Row[] = [];
  console.log(`pillow kernels: isa ${info.cpu.isa}, ${info.cpu.threads} threads; ${os.cpus()[0]?.model ?? "cpu"}`);
  console.log(
    `load average at start: ${os
      .loadavg()
      .map((v) => v.toFixed(1))
      .join(" ")}`,
  );

  // --- GEMM: T=512, 2048 -> 2048, rank 16 --------------------------------------------------
  const T = 512;
  const I = 2048;
  const O = 2048;
  const R = 16;
  const flops = 2 * T * I * O;
  // OpenBLAS at every coretype it has for this host (the environment sets OPENBLAS_CORETYPE=Haswell
  // globally, which on an AVX-512 host leaves half its vector width unused); the fastest is the peer.
  const best = openBlasBestCoretype(binary, T, O, I, REPEATS);
  for (const tried of best.tried) {
    console.log(
      `  OpenBLAS sgemm coretype ${tried.label}: ${tried.medianMs === undefined ? "failed (not supported here)" : `${tried.medianMs.toFixed(1)} ms`}`,
    );
  }
  console.log(`host: ${hostLine(best)}`);
  const bestCore = best.coretype;
  const x = random(T * I);
  const w = random(O * I, 0.05);
  const a = random(R * I, 0.05);
  const b = random(O * R, 0.05);
  const shape = { tokens: T, inFeatures: I, outFeatures: O, rank: R };
  const wBf16 = toBf16(w);
  // The best coretype is then timed again in alternating rounds with pillow, and each side's
  // result is the median over the rounds: on a shared machine the load drifts within seconds, and
  // comparing pillow's one sample against the fastest of five OpenBLAS samples would favour
  // whichever side happened to run in the quieter moment.
  const blasRounds: number[] = [];
  const baseRounds: number[] = [];
  const fusedRounds: number[] = [];
  const fusedBf16Rounds: number[] = [];
  const unfusedRounds: number[] = [];
  const freshRounds: number[] = [];
  // The peer writes into a C buffer it allocated once; pillow's rows do the same through `out`.
  // One row keeps the fresh Float32Array per call (allocation and zero-fill of 4 MiB included).
  const out = new Float32Array(T * O);
  for (let round = 0; round < ROUNDS; round++) {
    const again = peer(binary, ["sgemm", `${T}`, `${O}`, `${I}`, `${REPEATS}`], bestCore);
    if (again) blasRounds.push(again.median_ms);
    baseRounds.push(time(() => matmul(x, w, shape, { out })).median);
    freshRounds.push(time(() => matmul(x, w, shape)).median);
    fusedRounds.push(time(() => loraMatmul(x, w, a, b, shape, 2, { out })).median);
    fusedBf16Rounds.push(time(() => loraMatmul(x, wBf16, a, b, shape, 2, { out })).median);
    const unfusedRound = peer(binary, ["lora_unfused", `${T}`, `${I}`, `${O}`, `${R}`, `${REPEATS}`], bestCore);
    if (unfusedRound) unfusedRounds.push(unfusedRound.median_ms);
  }
  const blas = blasRounds.length > 0 ? median(blasRounds) : best.result.median_ms;
  const base = median(baseRounds);
  const fresh = median(freshRounds);
  const fused = median(fusedRounds);
  const fusedBf16 = median(fusedBf16Rounds);
  const unfused = unfusedRounds.length > 0 ? { median_ms: median(unfusedRounds) } : undefined;
  rows.push({
    what: `base GEMM ${T}x${I}->${O} f32`,
    ours: `${base.toFixed(1)} ms (${gflops(flops, base)} GFLOP/s)`,
    peer: `${blas.toFixed(1)} ms (${gflops(flops, blas)} GFLOP/s), OpenBLAS ${best.label}`,
    ratio: `${(base / blas).toFixed(2)}x time`,
    note: "into out (reused)",
  });
  rows.push({
    what: `base GEMM ${T}x${I}->${O} f32, a new array per call`,
    ours: `${fresh.toFixed(1)} ms (${gflops(flops, fresh)} GFLOP/s)`,
    peer: `${blas.toFixed(1)} ms`,
    ratio: `${(fresh / blas).toFixed(2)}x time`,
    note: "allocation + zero-fill included",
  });
  rows.push({
    what: `fused LoRA r=${R} f32 (vs base-only sgemm)`,
    ours: `${fused.toFixed(1)} ms`,
    peer: `${blas.toFixed(1)} ms`,
    ratio: `${(fused / blas).toFixed(2)}x time`,
    note: "goal <= 1.0x",
  });
  if (unfused) {
    rows.push({
      what: `unfused LoRA r=${R} on OpenBLAS (3 sgemm)`,
      ours: `${fused.toFixed(1)} ms (fused)`,
      peer: `${unfused.median_ms.toFixed(1)} ms`,
      ratio: `${(fused / unfused.median_ms).toFixed(2)}x time`,
      note: "",
    });
  }
  rows.push({
    what: `fused LoRA r=${R}, bf16 W (${info.cpu.bf16Dot ? `${info.cpu.bf16Dot} dot products, x rounded to bf16` : "widened to f32"})`,
    ours: `${fusedBf16.toFixed(1)} ms (${gflops(flops, fusedBf16)} GFLOP/s)`,
    peer: `${blas.toFixed(1)} ms (f32 sgemm)`,
    ratio: `${(fusedBf16 / blas).toFixed(2)}x time`,
    note: "",
  });
  rows.push({
    what: `fused LoRA r=${R}: bf16 W against f32 W (pillow both)`,
    ours: `${fusedBf16.toFixed(1)} ms`,
    peer: `${fused.toFixed(1)} ms`,
    ratio: `${(fused / fusedBf16).toFixed(2)}x throughput`,
    note: info.cpu.bf16Dot ? "goal >= 1.5x" : "",
  });

  // --- one thread, CPU time: per-core efficiency, the comparison least disturbed by other
  // processes on a shared machine (OpenBLAS's idle threads spin, so multi-threaded CPU time
  // would not compare fairly).
  const threadsBefore = info.cpu.threads;
  setThreads(1);
  const blasSingleRounds: number[] = [];
  const baseSingleRounds: number[] = [];
  const fusedSingleRounds: number[] = [];
  const unfusedSingleRounds: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const blasRound = peer(binary, ["sgemm", `${T}`, `${O}`, `${I}`, `${REPEATS}`], bestCore, 1);
    if (blasRound) blasSingleRounds.push(blasRound.cpu_median_ms);
    baseSingleRounds.push(time(() => matmul(x, w, shape, { out })).cpu);
    fusedSingleRounds.push(time(() => loraMatmul(x, w, a, b, shape, 2, { out })).cpu);
    const unfusedRound = peer(binary, ["lora_unfused", `${T}`, `${I}`, `${O}`, `${R}`, `${REPEATS}`], bestCore, 1);
    if (unfusedRound) unfusedSingleRounds.push(unfusedRound.cpu_median_ms);
  }
  setThreads(threadsBefore);
  const baseSingle = { cpu: median(baseSingleRounds) };
  const fusedSingle = { cpu: median(fusedSingleRounds) };
  const unfusedSingle = unfusedSingleRounds.length > 0 ? { cpu_median_ms: median(unfusedSingleRounds) } : undefined;
  if (blasSingleRounds.length > 0) {
    const peerCpu = median(blasSingleRounds);
    rows.push({
      what: "1 thread, CPU time: base GEMM f32",
      ours: `${baseSingle.cpu.toFixed(1)} ms (${gflops(flops, baseSingle.cpu)} GFLOP/s)`,
      peer: `${peerCpu.toFixed(1)} ms (${gflops(flops, peerCpu)} GFLOP/s)`,
      ratio: `${(baseSingle.cpu / peerCpu).toFixed(2)}x time`,
      note: "",
    });
    rows.push({
      what: `1 thread, CPU time: fused LoRA r=${R} (vs base-only sgemm)`,
      ours: `${fusedSingle.cpu.toFixed(1)} ms`,
      peer: `${peerCpu.toFixed(1)} ms`,
      ratio: `${(fusedSingle.cpu / peerCpu).toFixed(2)}x time`,
      note: "goal <= 1.0x",
    });
    if (unfusedSingle) {
      rows.push({
        what: `1 thread, CPU time: unfused LoRA r=${R} on OpenBLAS`,
        ours: `${fusedSingle.cpu.toFixed(1)} ms (fused)`,
        peer: `${unfusedSingle.cpu_median_ms.toFixed(1)} ms`,
        ratio: `${(fusedSingle.cpu / unfusedSingle.cpu_median_ms).toFixed(2)}x time`,
        note: "",
      });
    }
  }

  // --- one core's FMA peak (widest vectors the host has) against the GEMM's per-core rate.
  const fma = peer(binary, ["fma_peak", "1", `${REPEATS}`]);
  if (fma?.flops && blasSingleRounds.length > 0) {
    const peak = fma.flops / (fma.best_ms * 1e6);
    const peerCpu = median(blasSingleRounds);
    rows.push({
      what: `1 thread: base GEMM f32 as % of FMA peak (${fma.vector_bits ?? "?"}-bit probe)`,
      ours: `${gflops(flops, baseSingle.cpu)} GFLOP/s = ${((100 * flops) / baseSingle.cpu / 1e6 / peak).toFixed(0)}%`,
      peer: `OpenBLAS ${gflops(flops, peerCpu)} GFLOP/s = ${((100 * flops) / peerCpu / 1e6 / peak).toFixed(0)}%`,
      ratio: `peak ${peak.toFixed(0)} GFLOP/s`,
      note: "",
    });
  }

  // --- same process, one thread, thread CPU time: the kernels alone (no Node allocation or GC),
  // pillow and OpenBLAS calls alternating, so load drifts hit both alike.
  const pairBinary = buildPairHarness();
  if (pairBinary) {
    const env = { ...process.env };
    if (bestCore) env.OPENBLAS_CORETYPE = bestCore;
    else delete env.OPENBLAS_CORETYPE;
    const run = spawnSync(pairBinary, [`${T}`, `${I}`, `${O}`, `${R}`, `${3 * REPEATS}`], {
      env,
      encoding: "utf8",
      timeout: 300_000,
    });
    if (run.status === 0) {
      const pair = JSON.parse(run.stdout.trim().split("\n").pop() ?? "{}") as PairResult;
      rows.push({
        what: "same process, 1 thread, thread CPU time: base GEMM f32",
        ours: `${pair.base_ms.toFixed(1)} ms (${gflops(flops, pair.base_ms)} GFLOP/s)`,
        peer: `${pair.sgemm_ms.toFixed(1)} ms (${gflops(flops, pair.sgemm_ms)} GFLOP/s), OpenBLAS ${pair.core}`,
        ratio: `${(pair.base_ms / pair.sgemm_ms).toFixed(2)}x time`,
        note: "",
      });
      rows.push({
        what: `same process, 1 thread, thread CPU time: fused LoRA r=${R} (vs base-only sgemm)`,
        ours: `${pair.fused_ms.toFixed(1)} ms`,
        peer: `${pair.sgemm_ms.toFixed(1)} ms`,
        ratio: `${(pair.fused_ms / pair.sgemm_ms).toFixed(2)}x time`,
        note: "goal <= 1.0x",
      });
    }
  }

  // --- decode GEMV: T=1, 4096 -> 8192 (W larger than the L3 cache) --------------------------
  // Rounds of: bandwidth probe, f32 decode, bf16 decode, probe again. Each round's reference is
  // the higher of its two probes (memory bandwidth on a shared machine drifts with other work, and
  // the higher one never flatters the GEMV); the rows give the medians over rounds.
  const probeGBs = () => {
    const probe = peer(binary, ["bandwidth", "1024", `${REPEATS}`]);
    return probe?.bytes ? probe.bytes / (probe.median_ms * 1e6) : Number.NaN;
  };
  const DI = 4096;
  const DO = 8192;
  const dx = random(DI);
  const dw = random(DO * DI, 0.05);
  const dwBf16 = toBf16(dw);
  const da = random(R * DI, 0.05);
  const db = random(DO * R, 0.05);
  const dShape = { tokens: 1, inFeatures: DI, outFeatures: DO, rank: R };
  const gbs = (bytes: number, ms: number) => bytes / (ms * 1e6);
  const decodeF32Rounds: number[] = [];
  const decodeBf16Rounds: number[] = [];
  const bandwidthRounds: number[] = [];
  const percentF32Rounds: number[] = [];
  const percentBf16Rounds: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const before = probeGBs();
    const f32 = time(() => loraMatmul(dx, dw, da, db, dShape, 2)).median;
    const bf16 = time(() => loraMatmul(dx, dwBf16, da, db, dShape, 2)).median;
    const after = probeGBs();
    const reference = Math.max(before, after);
    console.log(
      `  decode round ${round + 1}: read bandwidth ${before.toFixed(1)} / ${after.toFixed(1)} GB/s (before / after); f32 ${gbs(DO * DI * 4, f32).toFixed(1)} GB/s, bf16 ${gbs(DO * DI * 2, bf16).toFixed(1)} GB/s`,
    );
    decodeF32Rounds.push(f32);
    decodeBf16Rounds.push(bf16);
    bandwidthRounds.push(reference);
    percentF32Rounds.push((100 * gbs(DO * DI * 4, f32)) / reference);
    percentBf16Rounds.push((100 * gbs(DO * DI * 2, bf16)) / reference);
  }
  const sgemv = peer(binary, ["sgemv", `${DI}`, `${DO}`, `${REPEATS}`], bestCore);
  const bandwidthGBs = median(bandwidthRounds);
  for (const [label, ms, bytes, percent] of [
    ["f32", median(decodeF32Rounds), DO * DI * 4, median(percentF32Rounds)],
    ["bf16", median(decodeBf16Rounds), DO * DI * 2, median(percentBf16Rounds)],
  ] as const) {
    rows.push({
      what: `decode T=1 ${DI}->${DO} LoRA r=${R}, ${label} W`,
      ours: `${ms.toFixed(2)} ms (${gbs(bytes, ms).toFixed(1)} GB/s)`,
      peer: `${bandwidthGBs.toFixed(1)} GB/s read bandwidth${label === "f32" && sgemv ? `; OpenBLAS sgemv ${sgemv.median_ms.toFixed(2)} ms (${gbs(bytes, sgemv.median_ms).toFixed(1)} GB/s)` : ""}`,
      ratio: `${percent.toFixed(0)}% of bandwidth`,
      note: "goal >= 90%",
    });
  }

  // --- many adapters: 8 adapters mixed in 64 rows --------------------------------------------
  const MT = 64;
  const mx = random(MT * I);
  const adapters: LoraAdapter[] = Array.from({ length: 8 }, (_, j) => ({
    a: random(R * I, 0.05 + j * 0.001),
    b: random(O * R, 0.05),
    rank: R,
    scale: 2,
  }));
  const index = Int32Array.from({ length: MT }, (_, t) => t % 8);
  const single = time(() => loraMatmul(mx, w, a, b, { tokens: MT, inFeatures: I, outFeatures: O, rank: R }, 2)).median;
  const multi = time(() =>
    loraMatmulMulti(mx, w, adapters, index, { tokens: MT, inFeatures: I, outFeatures: O }),
  ).median;
  rows.push({
    what: `8 adapters mixed in ${MT} rows (${I}->${O}, r=${R})`,
    ours: `${multi.toFixed(2)} ms`,
    peer: `${single.toFixed(2)} ms single adapter`,
    ratio: `${(single / multi).toFixed(2)}x throughput`,
    note: "goal >= 0.9x",
  });

  // --- sampling over a 128k vocabulary ------------------------------------------------------
  const vocab = 128256;
  for (const sampleRows of [1, 64]) {
    const logits = random(sampleRows * vocab, 8);
    for (const [label, options, topK, topP] of [
      ["top-p 0.9", { topP: 0.9 }, 0, 0.9],
      ["top-k 50", { topK: 50 }, 50, 1],
    ] as const) {
      const ours = time(() => sample(logits, { rows: sampleRows, vocab }, { ...options, seed: 1 })).median;
      const sorted = peer(binary, [
        "sort_sample",
        `${sampleRows}`,
        `${vocab}`,
        `${topK}`,
        `${topP}`,
        `${Math.min(REPEATS, 5)}`,
      ]);
      rows.push({
        what: `sample ${label}, ${sampleRows} x ${vocab}`,
        ours: `${ours.toFixed(2)} ms`,
        peer: sorted ? `${sorted.median_ms.toFixed(2)} ms sort-based (C++)` : "failed",
        ratio: sorted ? `${(sorted.median_ms / ours).toFixed(1)}x faster` : "",
        note: "goal >= 5x",
      });
    }
  }

  console.log(
    `load average at end: ${os
      .loadavg()
      .map((v) => v.toFixed(1))
      .join(" ")}\n`,
  );
  // Every ratio row carries its host: the ratios differ from host to host (AVX2 or AVX-512, BF16
  // dot products or not, which OpenBLAS kernel is best).
  const tag = hostTag(best);
  console.log(`host: ${hostLine(best)}`);
  console.log("| case | pillow | peer | ratio | goal | host |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const row of rows)
    console.log(`| ${row.what} | ${row.ours} | ${row.peer} | ${row.ratio} | ${row.note} | ${row.host ?? tag} |`);
}
