// `pnpm bench quantized`: the decode product y = W·x (one token) with W read as llama.cpp's Q8_0
// blocks (quantizedMatvecQ8_0, 34 bytes per 32 weights) against the same product over f32 and bf16
// weights (matmul / loraMatmul rank 0, tokens = 1), at the 134M reference's shapes, interleaved over
// rounds, medians. Reports GB/s of weights read: decode is bound by it. The weights are quantized by
// @pillow/core's quantizeQ8_0 (what `pillow quantize` writes). The model's decode runs the same row
// kernel on a Q8_0 GGUF's linear weights (loadModel keeps them as blocks; see `pnpm bench core`).
import os from "node:os";
import { quantizeQ8_0 } from "@pillow/core";
import { loraMatmul, matmul, quantizedMatvecQ8_0, setThreads, toBf16 } from "@pillow/lora-kernels";

const threads = Number(process.env.BENCH_THREADS ?? 2);
const rounds = Number(process.env.BENCH_QUANTIZED_ROUNDS ?? 5);
const repeats = 20;

function random(length: number, seed: number): Float32Array {
  let state = seed >>> 0;
  return Float32Array.from({ length }, () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return ((state / 4294967296) * 2 - 1) * 0.05;
  });
}

/** Median ms of `repeats` calls after one warm-up. */
function time(body: () => unknown): number {
  body();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    body();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

export async function quantizedBenchmark(): Promise<void> {
  setThreads(threads);
  console.log(
    `quantized: ${threads} threads, ${rounds} interleaved rounds, load average ${os.loadavg()[0].toFixed(1)}`,
  );
  const shapes = [
    { what: "q/k/v/o 768×768", rows: 768, columns: 768 },
    { what: "gate/up 2048×768", rows: 2048, columns: 768 },
    { what: "down 768×2048", rows: 768, columns: 2048 },
    { what: "output 32000×768", rows: 32000, columns: 768 },
  ];
  const table = [];
  for (const { what, rows, columns } of shapes) {
    const w = random(rows * columns, rows + columns);
    const q8 = quantizeQ8_0(w);
    const bf16 = toBf16(w);
    const x = random(columns, 7);
    const shape = { tokens: 1, inFeatures: columns, outFeatures: rows };
    const empty = new Float32Array(0);
    const runs: Record<string, number[]> = { q8: [], f32: [], bf16: [] };
    for (let round = 0; round < rounds; round++) {
      runs.q8.push(time(() => quantizedMatvecQ8_0(x, q8, { rows, columns })));
      runs.f32.push(time(() => matmul(x, w, shape)));
      runs.bf16.push(time(() => loraMatmul(x, bf16, empty, empty, { ...shape, rank: 0 }, 0)));
    }
    const gbs = (bytes: number, ms: number) => (bytes / (ms * 1e6)).toFixed(1);
    const [q8Ms, f32Ms, bf16Ms] = [median(runs.q8), median(runs.f32), median(runs.bf16)];
    table.push({
      product: what,
      "q8_0 µs": (q8Ms * 1000).toFixed(0),
      "q8_0 GB/s": gbs(q8.length, q8Ms),
      "f32 µs": (f32Ms * 1000).toFixed(0),
      "f32 GB/s": gbs(4 * rows * columns, f32Ms),
      "bf16 µs": (bf16Ms * 1000).toFixed(0),
      "bf16 GB/s": gbs(2 * rows * columns, bf16Ms),
      "q8_0 vs f32": `${(f32Ms / q8Ms).toFixed(2)}x`,
      "q8_0 vs bf16": `${(bf16Ms / q8Ms).toFixed(2)}x`,
    });
  }
  console.table(table);
  console.log(`load average after: ${os.loadavg()[0].toFixed(1)}`);
}
