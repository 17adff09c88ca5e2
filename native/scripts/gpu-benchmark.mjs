#!/usr/bin/env node
// The benchmark table of gpu-check.sh: device "cuda" against the CPU on the kernels the bindings
// reach and on a LlamaModel's decode, through the addon as JS calls it (host arrays in and out, so each CUDA time includes the
// copies to and from the device).
//   node scripts/gpu-benchmark.mjs ADDON [--small]
// --small: tiny shapes, for a dry run in the PILLOW_CUDA=emulate build (the emulation is slow).
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const addonPath = process.argv[2];
const small = process.argv.includes("--small");
if (!addonPath) {
  console.error("usage: gpu-benchmark.mjs ADDON [--small]");
  process.exit(2);
}
const addon = require(addonPath);
const info = addon.backendInfo();
if (!(info.cuda.compiled && info.cuda.devices > 0)) {
  console.error(`gpu-benchmark: the addon has no usable CUDA device (${info.cuda.error ?? "0 devices"})`);
  process.exit(1);
}

function random(n, seed) {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 4294967296) * 2 - 1;
  }
  return a;
}

// Median of `repeats` timed calls after one warm-up, in milliseconds.
function time(repeats, body) {
  body();
  const samples = [];
  for (let i = 0; i < repeats; i++) {
    const start = process.hrtime.bigint();
    body();
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  samples.sort((x, y) => x - y);
  return samples[Math.floor(samples.length / 2)];
}

const rows = [];
const repeats = small ? 1 : 5;
{
  const [T, K, N, r] = small ? [8, 32, 32, 4] : [512, 4096, 4096, 16];
  const x = random(T * K, 1);
  const w = random(N * K, 2);
  const a = random(r * K, 3);
  const b = random(N * r, 4);
  const flops = 2 * T * K * N + 2 * T * r * (K + N);
  for (const device of ["cuda", "cpu"]) {
    const fused = time(repeats, () =>
      addon.loraMatmul(x, w, a, b, { tokens: T, inFeatures: K, outFeatures: N, rank: r, device }, 0.5),
    );
    const none = new Float32Array(0);
    const base = time(repeats, () =>
      addon.loraMatmul(x, w, none, none, { tokens: T, inFeatures: K, outFeatures: N, rank: 0, device }, 0.5),
    );
    rows.push([
      `fused LoRA forward T=${T} ${K}->${N} r=${r}`,
      device,
      fused,
      `${(flops / fused / 1e6).toFixed(1)} GFLOP/s`,
    ]);
    rows.push([
      `base-only GEMM (rank 0, own kernel) T=${T} ${K}->${N}`,
      device,
      base,
      `LoRA overhead ${((fused / base - 1) * 100).toFixed(1)} %`,
    ]);
  }
}
{
  const vocab = small ? 1000 : 128 * 1024;
  for (const batch of [1, small ? 2 : 64]) {
    const logits = random(batch * vocab, 5);
    const seeds = Array.from({ length: batch }, (_, i) => i + 1);
    for (const device of ["cuda", "cpu"]) {
      const ms = time(repeats, () =>
        addon.sample(logits, { rows: batch, vocab }, { topK: 50, topP: 0.9, temperature: 0.8, seeds, device }),
      );
      rows.push([`sample top-k 50 + top-p 0.9, vocab ${vocab}, batch ${batch}`, device, ms, ""]);
    }
    // The sort-based reference: a full descending sort of each row (what a sorting sampler costs).
    const sortMs = time(repeats, () => {
      for (let row = 0; row < batch; row++)
        Float32Array.from(logits.subarray(row * vocab, (row + 1) * vocab))
          .sort()
          .reverse();
    });
    rows.push([`sort-based reference (JS full sort per row), batch ${batch}`, "cpu", sortMs, ""]);
  }
}
{
  // Greedy decode of the 134M reference shape (random LLaMA: hidden 768, 12 layers, 12 heads,
  // intermediate 2048, vocab 32000; core's README) after a 16-token prompt, through a LlamaModel
  // on each device: one native call per token (logits copied back, argmax in JS).
  const config = small
    ? {
        vocabSize: 64,
        hiddenSize: 16,
        intermediateSize: 24,
        numLayers: 1,
        numHeads: 2,
        numKeyValueHeads: 2,
        headDim: 8,
      }
    : {
        vocabSize: 32000,
        hiddenSize: 768,
        intermediateSize: 2048,
        numLayers: 12,
        numHeads: 12,
        numKeyValueHeads: 12,
        headDim: 64,
      };
  const full = {
    ...config,
    maxPositionEmbeddings: 2048,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    ropeScaling: null,
    tieWordEmbeddings: false,
    attentionBias: false,
  };
  const steps = small ? 4 : 32;
  const prompt = Int32Array.from({ length: 16 }, (_, i) => (i * 31 + 7) % config.vocabSize);
  for (const device of ["cuda", "cpu"]) {
    const model = new addon.LlamaModel(full, { device });
    model.tensorNames().forEach((name, index) => {
      const size = model.tensorShape(name).reduce((x, y) => x * y, 1);
      model.setTensor(
        name,
        name.includes("norm") ? new Float32Array(size).fill(1) : random(size, 10 + index).map((v) => v * 0.02),
      );
    });
    const argmax = (row) => row.reduce((best, v, i) => (v > row[best] ? i : best), 0);
    let logits = await model.forward(prompt, { useCache: true, startPosition: 0, lastOnly: true }); // prefill; weights uploaded
    const start = process.hrtime.bigint();
    for (let step = 0; step < steps; step++) {
      logits = await model.forward(Int32Array.of(argmax(logits)), {
        useCache: true,
        startPosition: prompt.length + step,
        lastOnly: true,
      });
    }
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    rows.push([
      `greedy decode, ${small ? "tiny" : "134M"} model, ${steps} tokens after 16`,
      device,
      ms / steps,
      `${((steps * 1000) / ms).toFixed(1)} tokens/s (ms per token)`,
    ]);
    model.dispose();
  }
}

const device = info.cuda.emulated
  ? "CUDA emulation (CPU fibers)"
  : `CUDA runtime ${info.cuda.runtimeVersion}, ${info.cuda.devices} device(s)`;
console.log(
  `\ngpu-check benchmark: ${device}; median of ${repeats} after a warm-up; CUDA times include host<->device copies`,
);
console.log(`${"what".padEnd(62)} ${"device".padEnd(6)} ${"ms".padStart(10)}  note`);
for (const [what, dev, ms, note] of rows) {
  console.log(
    `${what.padEnd(62)} ${dev.padEnd(6)} ${Number.isNaN(ms) ? "n/a".padStart(10) : ms.toFixed(2).padStart(10)}  ${note}`,
  );
}
