// `pillow bench`: how fast pillow runs on this machine — the fused LoRA matmul against pillow's own
// unfused form (base GEMM + two rank-r GEMMs), the sampler, and the tiny model's prefill, decode and
// LoRA training. Peers (OpenBLAS, PyTorch, POT, llama.cpp) are compared in the repository's
// `pnpm bench`, which needs them installed; this command needs nothing but pillow.
import { backendInfo, loadModel, loraMatmul, matmul, sample, train } from "@pillow/core";
import { tinyModelDir } from "@pillow/suite";
import type { Command } from "commander";
import { commandContext } from "../context.js";

export type BenchRow = { name: string; median: number; unit: string; detail?: string };

/** Median of `repeats` timed runs (after one warm-up), in seconds. */
async function medianSeconds(repeats: number, run: () => unknown | Promise<unknown>): Promise<number> {
  await run();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const started = process.hrtime.bigint();
    await run();
    times.push(Number(process.hrtime.bigint() - started) / 1e9);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

function filled(length: number, seed: number): Float32Array {
  const values = new Float32Array(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    values[i] = state / 2 ** 32 - 0.5;
  }
  return values;
}

export async function runBench(options: { quick: boolean; model?: string }): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const repeats = options.quick ? 3 : 7;
  const size = options.quick
    ? { tokens: 64, inFeatures: 512, outFeatures: 512, rank: 16 }
    : { tokens: 512, inFeatures: 2048, outFeatures: 2048, rank: 16 };
  const { tokens: t, inFeatures: n, outFeatures: m, rank: r } = size;
  const x = filled(t * n, 1);
  const w = filled(m * n, 2);
  const a = filled(r * n, 3);
  const b = filled(m * r, 4);
  const flops = 2 * t * n * m + 2 * t * n * r + 2 * t * r * m;
  const fused = await medianSeconds(repeats, () => loraMatmul(x, w, a, b, size, 2));
  // The unfused form: y = x·Wᵀ, u = x·Aᵀ, y += 2·u·Bᵀ, each a separate GEMM.
  const unfused = await medianSeconds(repeats, () => {
    const y = matmul(x, w, { tokens: t, inFeatures: n, outFeatures: m });
    const u = matmul(x, a, { tokens: t, inFeatures: n, outFeatures: r });
    const delta = matmul(u, b, { tokens: t, inFeatures: r, outFeatures: m });
    for (let i = 0; i < y.length; i++) y[i] += 2 * delta[i];
    return y;
  });
  const shape = `T=${t}, ${n}→${m}, r=${r}, f32`;
  rows.push({ name: "fused LoRA matmul", median: flops / fused / 1e9, unit: "GFLOP/s", detail: shape });
  rows.push({
    name: "unfused LoRA (3 GEMMs)",
    median: flops / unfused / 1e9,
    unit: "GFLOP/s",
    detail: `${(unfused / fused).toFixed(2)}× the fused time`,
  });

  const vocab = options.quick ? 32_000 : 128_000;
  const logits = filled(8 * vocab, 5);
  const sampling = await medianSeconds(repeats, () =>
    sample(logits, { rows: 8, vocab }, { temperature: 0.8, topP: 0.9, seed: 1 }),
  );
  rows.push({ name: "top-p sampling", median: 8 / sampling, unit: "rows/s", detail: `vocab ${vocab}, 8 rows` });

  const model = await loadModel(options.model ?? tinyModelDir);
  const prompt = new Int32Array(options.quick ? 64 : 256).map((_, i) => 32 + (i % 90));
  const prefill = await medianSeconds(repeats, () => model.forward(prompt));
  rows.push({ name: "prefill", median: prompt.length / prefill, unit: "tok/s", detail: `${prompt.length} tokens` });
  const newTokens = options.quick ? 16 : 64;
  const decode = await medianSeconds(Math.max(1, repeats - 2), () =>
    model.generate(prompt.subarray(0, 16), { maxNewTokens: newTokens, temperature: 0, ignoreEos: true }),
  );
  rows.push({
    name: "decode (greedy, KV cache)",
    median: newTokens / decode,
    unit: "tok/s",
    detail: `${newTokens} new tokens`,
  });
  model.addAdapter("bench", { r: 8, alpha: 16, targetModules: ["q_proj", "k_proj", "v_proj", "o_proj"], seed: 1 });
  model.setActiveAdapter("bench");
  const dataset = Array.from({ length: 8 }, (_, i) => ({
    text: `Sample ${i}: ${"the quick brown fox ".repeat(options.quick ? 3 : 12)}`,
  }));
  let trainedTokens = 0;
  const started = process.hrtime.bigint();
  await train(model, dataset, {
    mode: "lora",
    epochs: 1,
    batchSize: 4,
    lr: 1e-4,
    onStep: (info) => {
      trainedTokens += info.tokens;
    },
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  rows.push({
    name: "LoRA training",
    median: trainedTokens / seconds,
    unit: "tok/s",
    detail: "r=8 on q,k,v,o; batch 4",
  });
  return rows;
}

export function registerBench(program: Command): void {
  program
    .command("bench")
    .description("time pillow's kernels and the tiny model on this machine (medians of repeated runs)")
    .option("--quick", "smaller shapes and fewer repeats (a few seconds)")
    .option("--model <dir>", "model folder for the model rows (default: the suite's tiny model)")
    .option("--json", "print the rows as JSON")
    .addHelpText(
      "after",
      "\nExamples:\n  pillow bench\n  pillow --threads 1 bench --quick --json\n\nComparisons against OpenBLAS, PyTorch, POT and llama.cpp: `pnpm bench` in the repository.",
    )
    .action(async (options: { quick?: boolean; model?: string; json?: boolean }, command: Command) => {
      const context = commandContext(command, options);
      const rows = await runBench({ quick: options.quick === true, model: options.model });
      const info = backendInfo();
      if (options.json) {
        console.log(JSON.stringify({ backend: { isa: info.cpu.isa, threads: info.cpu.threads }, rows }, null, 2));
        return;
      }
      context.log(`pillow bench (${info.cpu.isa}, ${info.cpu.threads} thread(s))`);
      for (const row of rows)
        context.log(
          `  ${row.name.padEnd(28)} ${row.median.toFixed(1).padStart(10)} ${row.unit.padEnd(8)} ${row.detail ?? ""}`,
        );
    });
}
