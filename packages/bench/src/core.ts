// `pnpm bench core`: the native model runtime (@pillow/core) against its peers in the same run:
// plain PyTorch 1.13 for LoRA training (same LLaMA + LoRA math, torch.optim.AdamW), and llama.cpp
// (node-llama-cpp's prebuilt CPU binary, on the same weights exported as GGUF) for prefill and
// decode. Models are random-weight HF folders written by createTinyModel: the demo's tiny model,
// and (BENCH_CORE_LARGE=1) the issue's 134M reference (hidden 768, 12 layers, 12 heads,
// intermediate 2048, vocab 32000). The machine is shared, so every peer is measured interleaved
// with pillow, repeated (BENCH_CORE_ROUNDS, default 3), and medians are reported with the load.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createTinyModel, exportModelToGguf, loadModel, type Model } from "@pillow/core";
import { setThreads } from "@pillow/lora-kernels";
import {
  type LlamaCppRunner,
  llamaCppDecode,
  llamaCppGreedyTokens,
  llamaCppLogits,
  llamaCppPrefill,
  llamaCppStepLogits,
  openLlamaCppModel,
  relativeError,
} from "./llama-cpp-peer.js";
import { decodePathLogits } from "./decode-path.js";
import { hostLine, hostTag, openBlasBestCoretype } from "./host.js";
import { buildHarness, peer } from "./peer-harness.js";

export type Shape = {
  name: string;
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  vocab: number;
  seq: number;
  batch: number;
  rank: number;
  /** A separate output layer (lm_head) instead of the embedding matrix reused. */
  untied?: boolean;
};

const here = path.dirname(fileURLToPath(import.meta.url));
const torchScript = path.resolve(here, "..", "tools", "torch_lora_train.py");
const python = process.env.PILLOW_PYTHON ?? (fs.existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3");
const threads = Number(process.env.BENCH_THREADS ?? 2);
const rounds = Number(process.env.BENCH_CORE_ROUNDS ?? 3);
/**
 * The machine's memory read bandwidth: 26.7 GB/s is the peer harness's probe on the idle machine
 * (packages/lora-kernels/README.md; the issue says ~25). The in-run probe is reported beside it.
 */
const NOMINAL_BANDWIDTH_GBS = Number(process.env.BENCH_BANDWIDTH_GBS ?? 26.7);
const ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const;
const DECODE_TOKENS = 32;
const DECODE_PROMPT = 16;

/** Weights of the model (tied embeddings counted once: the output layer reuses them). */
function parameterCount(s: Shape): number {
  return (
    s.layers * (4 * s.hidden * s.hidden + 3 * s.hidden * s.intermediate + 2 * s.hidden) +
    (s.untied ? 2 : 1) * s.vocab * s.hidden +
    s.hidden
  );
}

/** Weights read per decoded token: everything but the embedding table (one row of it is read). */
function decodeWeightCount(s: Shape): number {
  return parameterCount(s) - (s.untied ? s.vocab * s.hidden : 0);
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
const load = () => os.loadavg()[0].toFixed(1);
const promptOf = (shape: Shape, length: number) =>
  Int32Array.from({ length }, (_, i) => 3 + ((i * 7919) % Math.min(256, shape.vocab - 3)));

/** A random-weight HF folder of `shape` (byte tokenizer included), written by core's createTinyModel. */
export function writeModel(dir: string, shape: Shape): void {
  createTinyModel(dir, {
    hiddenSize: shape.hidden,
    intermediateSize: shape.intermediate,
    numLayers: shape.layers,
    numHeads: shape.heads,
    vocabSize: shape.vocab,
    maxPositionEmbeddings: Math.max(512, shape.seq + DECODE_PROMPT + DECODE_TOKENS),
    tieWordEmbeddings: !shape.untied,
  });
}

/** LoRA or full training tokens/s: lossAndGrad + AdamW per step, after one warm-up step. */
async function pillowTrainRate(model: Model, shape: Shape, mode: "lora" | "full", steps: number): Promise<number> {
  const tokens = new Int32Array(shape.batch * shape.seq).map((_, i) => (i * 7919) % shape.vocab);
  model.setActiveAdapter(mode === "lora" ? "bench" : null);
  const step = async (index: number) => {
    await model.native.lossAndGrad(tokens, tokens, { batch: shape.batch, mode, gradScale: 1 / tokens.length });
    await model.native.adamwStep(mode, { learningRate: 1e-5, step: index + 1 });
  };
  await step(0);
  const started = performance.now();
  for (let i = 1; i <= steps; i++) await step(i);
  model.setActiveAdapter(null);
  return (shape.batch * shape.seq * steps) / ((performance.now() - started) / 1000);
}

function torchTrainRate(shape: Shape, steps: number): number {
  const run = spawnSync(
    python,
    [
      torchScript,
      ...[
        shape.hidden,
        shape.intermediate,
        shape.layers,
        shape.heads,
        shape.vocab,
        shape.seq,
        shape.batch,
        shape.rank,
        steps,
        threads,
      ].map(String),
    ],
    { encoding: "utf8" },
  );
  if (run.status !== 0) {
    console.warn(`PyTorch peer failed (${python}): ${run.stderr.trim().split("\n").pop()}`);
    return Number.NaN;
  }
  return JSON.parse(run.stdout.trim().split("\n").pop() as string).train_tokens_per_second as number;
}

/** Prefill tokens/s: the whole prompt through the model into an empty KV cache, last logits only. */
async function pillowPrefill(model: Model, prompt: Int32Array): Promise<number> {
  const started = performance.now();
  await model.native.forward(prompt, { useCache: true, startPosition: 0, lastOnly: true });
  return prompt.length / ((performance.now() - started) / 1000);
}

function argmax(values: Float32Array): number {
  let best = 0;
  for (let v = 1; v < values.length; v++) if (values[v] > values[best]) best = v;
  return best;
}

/** Greedy tokens where every step runs the whole sequence again without a cache (the prefill path only). */
async function prefillPathGreedy(model: Model, prompt: Int32Array, count: number): Promise<number[]> {
  const tokens = Array.from(prompt);
  const generated: number[] = [];
  for (let i = 0; i < count; i++) {
    const next = argmax(await model.native.forward(Int32Array.from(tokens), { lastOnly: true }));
    tokens.push(next);
    generated.push(next);
  }
  return generated;
}

/** Greedy decode tokens/s: one token per step through the model, its output layer and an argmax. */
async function pillowDecode(model: Model, prompt: Int32Array, count: number): Promise<number> {
  let logits = await model.native.forward(prompt, { useCache: true, startPosition: 0, lastOnly: true });
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    let best = 0;
    for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
    logits = await model.native.forward(Int32Array.of(best), {
      useCache: true,
      startPosition: prompt.length + i,
      lastOnly: true,
    });
  }
  return count / ((performance.now() - started) / 1000);
}

/** The demo model (and any shape without the llama.cpp comparison): pillow vs PyTorch training. */
async function trainingTable(shape: Shape, steps: number): Promise<Record<string, string>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pillow-bench-${shape.name}-`));
  try {
    writeModel(dir, shape);
    const model = await loadModel(dir, { threads });
    model.addAdapter("bench", { r: shape.rank, alpha: 2 * shape.rank, targetModules: [...ALL] });
    const lora: number[] = [];
    const torch: number[] = [];
    for (let round = 0; round < rounds; round++) {
      lora.push(await pillowTrainRate(model, shape, "lora", steps));
      torch.push(torchTrainRate(shape, steps));
    }
    const full = await pillowTrainRate(model, shape, "full", steps);
    const prefill = await pillowPrefill(model, promptOf(shape, shape.seq));
    const decode = await pillowDecode(model, promptOf(shape, DECODE_PROMPT), DECODE_TOKENS);
    return {
      model: `${shape.name} (${(parameterCount(shape) / 1e6).toFixed(1)}M)`,
      "lora train tok/s": median(lora).toFixed(0),
      "torch lora tok/s": median(torch).toFixed(0),
      "vs torch": `${(median(lora) / median(torch)).toFixed(2)}x`,
      "full train tok/s": full.toFixed(0),
      [`prefill ${shape.seq} tok/s`]: prefill.toFixed(0),
      "decode tok/s": decode.toFixed(1),
      host: hostTag(),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Weight formats compared: pillow rows are compared with the llama.cpp rows of their precision. */
type Precision = "f32" | "16-bit" | "q8_0" | "q4_0" | "q4_k";
const PRECISIONS: Precision[] = ["f32", "16-bit", "q8_0", "q4_0", "q4_k"];
/**
 * Bytes per weight each runtime reads in decode: llama.cpp reads Q8_0/Q4_0 blocks (34 / 18 bytes per
 * 32) and Q4_K super-blocks (144 bytes per 256).
 */
const LLAMA_CPP_BYTES: Record<Precision, number> = {
  f32: 4,
  "16-bit": 2,
  q8_0: 34 / 32,
  q4_0: 18 / 32,
  q4_k: 144 / 256,
};

type Engine = {
  label: string;
  precision: Precision;
  isPeer: boolean;
  bytesPerWeight: number;
  prefill: (p: Int32Array) => Promise<number>;
  decode: (p: Int32Array) => Promise<number>;
};

/** The 134M reference: pillow vs llama.cpp (prefill, decode), and pillow vs PyTorch (LoRA training). */
async function referenceComparison(shape: Shape): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pillow-bench-${shape.name}-`));
  const runners: LlamaCppRunner[] = [];
  try {
    const hf = path.join(dir, "hf");
    writeModel(hf, shape);
    // BENCH_CORE_PRECISIONS (default all: f32,16-bit,q8_0,q4_0,q4_k) picks the weight formats compared.
    const precisions = (process.env.BENCH_CORE_PRECISIONS?.split(",") ?? PRECISIONS) as Precision[];
    const ggufDtype: Record<Precision, "f32" | "f16" | "q8_0" | "q4_0" | "q4_k"> = {
      f32: "f32",
      "16-bit": "f16",
      q8_0: "q8_0",
      q4_0: "q4_0",
      q4_k: "q4_k",
    };
    const files = Object.fromEntries(
      precisions.map((precision) => [precision, path.join(dir, `${ggufDtype[precision]}.gguf`)]),
    ) as Record<Precision, string>;
    for (const precision of precisions) exportModelToGguf(hf, files[precision], { dtype: ggufDtype[precision] });
    const pillowF32 = await loadModel(hf, { threads });
    // pillow's quantized rows load the very GGUF llama.cpp runs: Q8_0, Q4_0 and Q4_K linear weights kept
    // as blocks (loadModel's default).
    const pillowModels: Record<Precision, () => Promise<Model>> = {
      f32: async () => pillowF32,
      "16-bit": () => loadModel(hf, { threads, dtype: "bf16" }),
      q8_0: () => loadModel(files.q8_0, { threads }),
      q4_0: () => loadModel(files.q4_0, { threads }),
      q4_k: () => loadModel(files.q4_k, { threads }),
    };
    const pillowBytes: Record<Precision, number> = LLAMA_CPP_BYTES;
    const pillowLabel: Record<Precision, string> = {
      f32: "pillow f32",
      "16-bit": "pillow bf16",
      q8_0: "pillow q8_0 (blocks kept)",
      q4_0: "pillow q4_0 (blocks kept)",
      q4_k: "pillow q4_k (blocks kept)",
    };
    const llamaLabel: Record<Precision, string> = {
      f32: "llama.cpp f32",
      "16-bit": "llama.cpp f16",
      q8_0: "llama.cpp q8_0",
      q4_0: "llama.cpp q4_0",
      q4_k: "llama.cpp q4_k",
    };
    const contextSize = 512;
    // llama.cpp's threads busy-wait at each op's barrier, which a machine shared with other jobs
    // punishes (a descheduled thread stalls the other); with one thread it has no barrier. Both
    // are measured and pillow is compared with the faster one.
    const singleThreaded = threads > 1 && process.env.BENCH_LLAMA_SINGLE !== "0";
    const pillow = new Map<Precision, Model>();
    const llama = new Map<Precision, { many: LlamaCppRunner; one?: LlamaCppRunner }>();
    for (const precision of precisions) {
      pillow.set(precision, await pillowModels[precision]());
      const many = await openLlamaCppModel(files[precision], { threads, contextSize, batchSize: shape.seq });
      const one = singleThreaded
        ? await openLlamaCppModel(files[precision], { threads: 1, contextSize, batchSize: shape.seq })
        : undefined;
      runners.push(many, ...(one ? [one] : []));
      llama.set(precision, { many, one });
    }

    // Same weights, same tokens: llama.cpp's logits (as it ships: F16 KV cache, the prompt in one
    // batch) against pillow's prefill.
    const check = promptOf(shape, 32);
    const reference = await pillowF32.native.forward(check, {});
    const checks: string[] = [];
    for (const precision of precisions) {
      const ours = precision === "f32" ? reference : await (pillow.get(precision) as Model).native.forward(check, {});
      const theirs = await llamaCppLogits((llama.get(precision) as { many: LlamaCppRunner }).many, check, shape.vocab);
      const versus =
        precision === "16-bit" ? ` (pillow bf16 vs pillow f32 ${relativeError(ours, reference).toExponential(1)})` : "";
      checks.push(
        `${llamaLabel[precision]} vs ${pillowLabel[precision]} ${relativeError(theirs, ours).toExponential(1)}${versus}`,
      );
      if (precision === "q8_0" || precision === "q4_0" || precision === "q4_k") {
        // Like for like: both decode paths (one token a step, integer dot products on x rounded to
        // Q8_0 / Q8_K), llama.cpp with an F32 KV cache and no flash attention. Rounding x to int8
        // codes makes the logits a step function of every float's last bits: one value that lands
        // within rounding of a half-code takes the neighbouring code, and the next layer's inputs
        // move by a code's worth, so at 134M the gap is the whole rounding noise (~1e-2) unless both
        // programs agree bit for bit in every op. llama.cpp's own AVX2 build against its AVX-512
        // build on these files measured 1.5e-2 / 6.6e-3 / 1.7e-2 (Q8_0 / Q4_0 / Q4_K, 4 Dec 2026).
        const quantizedModel = pillow.get(precision) as Model;
        const exact = await openLlamaCppModel(files[precision], {
          threads,
          contextSize,
          batchSize: shape.seq,
          exact: true,
        });
        const prompt = promptOf(shape, DECODE_PROMPT);
        try {
          const decodePath = await decodePathLogits(quantizedModel, check);
          const theirSteps = await llamaCppStepLogits(exact, check, shape.vocab);
          const rowGaps = Array.from({ length: check.length }, (_, p) =>
            relativeError(
              theirSteps.subarray(p * shape.vocab, (p + 1) * shape.vocab),
              decodePath.subarray(p * shape.vocab, (p + 1) * shape.vocab),
            ),
          );
          checks.push(
            `  decode paths (llama.cpp F32 KV, one token a step): ${relativeError(theirSteps, decodePath).toExponential(1)}, position 0 ${rowGaps[0].toExponential(1)}`,
          );
          // Greedy text on the same file: 32 tokens after a 16-token prompt, pillow's generate vs llama.cpp's.
          const mine = Array.from(
            (await quantizedModel.generate(prompt, { maxNewTokens: 32, temperature: 0, ignoreEos: true })).tokens,
          );
          const peerTokens = await llamaCppGreedyTokens(exact, prompt, 32);
          const same = mine.findIndex((token, i) => token !== peerTokens[i]);
          // The control: pillow against itself on the same file, its decode path against its prefill
          // path (f32 GEMM on the dequantized blocks and the same rounded x, summed in another order).
          const prefillGreedy = await prefillPathGreedy(quantizedModel, prompt, 32);
          const selfSame = mine.findIndex((token, i) => token !== prefillGreedy[i]);
          checks.push(
            `  greedy 32 tokens (${precision}): ${same < 0 ? "identical" : `first difference at token ${same}`}; control: pillow's decode path vs its prefill path ${relativeError(decodePath, ours).toExponential(1)}, greedy ${selfSame < 0 ? "identical" : `first difference at token ${selfSame}`}`,
          );
        } finally {
          await exact.dispose();
        }
      }
    }
    console.log(
      `logits cross-check on 32 tokens, max |Δ| / max |logit|, each pair on the same file/weights:\n  ${checks.join("\n  ")}`,
    );

    // pillow's pool size is process-wide: a 1-thread row shrinks it for its own timings only.
    const withThreads = async (count: number, body: () => Promise<number>) => {
      if (count === threads) return body();
      setThreads(count);
      try {
        return await body();
      } finally {
        setThreads(threads);
      }
    };
    const pillowEngine = (
      label: string,
      model: Model,
      precision: Precision,
      bytesPerWeight: number,
      count = threads,
    ): Engine => ({
      label,
      precision,
      isPeer: false,
      bytesPerWeight,
      prefill: (p) => withThreads(count, () => pillowPrefill(model, p)),
      decode: (p) => withThreads(count, () => pillowDecode(model, p, DECODE_TOKENS)),
    });
    const llamaEngine = (
      label: string,
      runner: LlamaCppRunner,
      precision: Precision,
      bytesPerWeight: number,
    ): Engine => ({
      label,
      precision,
      isPeer: true,
      bytesPerWeight,
      prefill: (p) => llamaCppPrefill(runner, p),
      decode: (p) => llamaCppDecode(runner, p, DECODE_TOKENS),
    });
    // The same Q8_0 file dequantized into f32 at load (what loadModel did before it kept the blocks).
    const dequantizedQ8_0 = precisions.includes("q8_0")
      ? await loadModel(files.q8_0, { threads, quantized: "dequantize" })
      : undefined;
    // With the 1-thread llama.cpp rows come 1-thread pillow rows: kernel against kernel, no barriers.
    const engines = precisions.flatMap((precision) => {
      const model = pillow.get(precision) as Model;
      const { many, one } = llama.get(precision) as { many: LlamaCppRunner; one?: LlamaCppRunner };
      return [
        pillowEngine(`${pillowLabel[precision]}, ${threads} threads`, model, precision, pillowBytes[precision]),
        ...(singleThreaded
          ? [pillowEngine(`${pillowLabel[precision]}, 1 thread`, model, precision, pillowBytes[precision], 1)]
          : []),
        ...(precision === "q8_0" && dequantizedQ8_0
          ? [pillowEngine(`pillow q8_0 (f32 at load), ${threads} threads`, dequantizedQ8_0, precision, 4)]
          : []),
        llamaEngine(`${llamaLabel[precision]}, ${threads} threads`, many, precision, LLAMA_CPP_BYTES[precision]),
        ...(one ? [llamaEngine(`${llamaLabel[precision]}, 1 thread`, one, precision, LLAMA_CPP_BYTES[precision])] : []),
      ];
    });
    const prefillPrompt = promptOf(shape, shape.seq);
    const decodePrompt = promptOf(shape, DECODE_PROMPT);
    // Warm-up: page in every weight and let each runtime size its buffers.
    for (const engine of engines) {
      await engine.prefill(prefillPrompt);
      await engine.decode(decodePrompt);
    }
    const binary = buildHarness();
    const loadStart = load();
    const prefill = new Map<string, number[]>();
    const decode = new Map<string, number[]>();
    const bandwidth: number[] = [];
    for (let round = 0; round < rounds; round++) {
      for (const engine of engines) {
        prefill.set(engine.label, [...(prefill.get(engine.label) ?? []), await engine.prefill(prefillPrompt)]);
        decode.set(engine.label, [...(decode.get(engine.label) ?? []), await engine.decode(decodePrompt)]);
      }
      const probe = peer(binary, ["bandwidth", "1024", "3"]);
      // The best of the probe's repeats: other jobs on the machine only ever make it slower.
      if (probe?.bytes) bandwidth.push(probe.bytes / (probe.best_ms * 1e6));
    }
    const readGBs = Math.max(...bandwidth);
    console.log(
      `prefill/decode: ${rounds} interleaved rounds, ${threads} threads, load average ${loadStart} → ${load()}; read bandwidth (peer harness, all hardware threads) ${readGBs.toFixed(1)} GB/s`,
    );
    const medianOf = (runs: Map<string, number[]>, engine: Engine) => median(runs.get(engine.label) ?? []);
    const bestPeer = (runs: Map<string, number[]>, engine: Engine) =>
      Math.max(
        ...engines
          .filter((other) => other.isPeer && other.precision === engine.precision)
          .map((other) => medianOf(runs, other)),
      );
    const rows = engines.map((engine) => {
      const decodeRate = medianOf(decode, engine);
      const prefillRate = medianOf(prefill, engine);
      // Decode reads every weight once per token (and one row of the embedding table).
      const bytesPerToken = decodeWeightCount(shape) * engine.bytesPerWeight;
      return {
        engine: engine.label,
        [`prefill ${shape.seq} tok/s`]: prefillRate.toFixed(0),
        "prefill vs best llama.cpp": engine.isPeer ? "" : `${(prefillRate / bestPeer(prefill, engine)).toFixed(2)}x`,
        "decode tok/s": decodeRate.toFixed(1),
        "decode vs best llama.cpp": engine.isPeer ? "" : `${(decodeRate / bestPeer(decode, engine)).toFixed(2)}x`,
        "decode GB/s": ((decodeRate * bytesPerToken) / 1e9).toFixed(1),
        [`% of ${NOMINAL_BANDWIDTH_GBS} GB/s`]: `${((100 * decodeRate * bytesPerToken) / (NOMINAL_BANDWIDTH_GBS * 1e9)).toFixed(0)}%`,
        "% of probe": `${((100 * decodeRate * bytesPerToken) / (readGBs * 1e9)).toFixed(0)}%`,
        "all runs (prefill | decode)": `${(prefill.get(engine.label) ?? []).map((v) => v.toFixed(0)).join(" ")} | ${(decode.get(engine.label) ?? []).map((v) => v.toFixed(1)).join(" ")}`,
        host: hostTag(),
      };
    });
    console.table(rows);
    for (const runner of runners.splice(0)) await runner.dispose();
    for (const [precision, model] of pillow) if (precision !== "f32") model.dispose();
    dequantizedQ8_0?.dispose();

    // LoRA training (r = 16 on every linear layer) against PyTorch, interleaved, at the issue's
    // batch 1 × seq 256 and at the batch 4 × seq 512 of real LoRA runs.
    // BENCH_CORE_TRAINING=0 skips them (a prefill/decode-only run).
    if (process.env.BENCH_CORE_TRAINING !== "0") {
      pillowF32.addAdapter("bench", { r: shape.rank, alpha: 2 * shape.rank, targetModules: [...ALL] });
      await trainingRows(pillowF32, shape, binary);
    }
  } finally {
    for (const runner of runners) await runner.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The training shapes of the reference comparison: the issue's batch 1 × seq 256 and batch 4 × seq 512. */
export const TRAINING_SHAPES = [
  { batch: 1, seq: 256 },
  { batch: 4, seq: 512 },
] as const;

/**
 * LoRA training rows: pillow and PyTorch interleaved per round, with OpenBLAS's sgemm (512×2048×2048,
 * its best coretype on this host, `threads` threads) timed just before and after pillow's steps in each
 * round (the higher of the two is the round's reference); the model FLOP rate
 * of training is given as a share of that sgemm rate and of the FMA probe (widest vectors).
 */
async function trainingRows(model: Model, base: Shape, binary: string): Promise<void> {
  const best = openBlasBestCoretype(binary, 512, 2048, 2048, 5, threads);
  const tag = hostTag(best);
  console.log(`host: ${hostLine(best)}`);
  const sgemmFlops = 2 * 512 * 2048 * 2048;
  const table: Record<string, string>[] = [];
  for (const { batch, seq } of TRAINING_SHAPES) {
    const shape: Shape = { ...base, batch, seq };
    const loadStart = load();
    const lora: number[] = [];
    const torch: number[] = [];
    const sgemm: number[] = [];
    // Each round: a warm-up step and timed steps (3 at seq 256, 2 at the 8× larger batch 4 × seq
    // 512), pillow then PyTorch, then OpenBLAS's sgemm rate at that moment.
    const steps = batch * seq > 1024 ? 2 : 3;
    // OpenBLAS's rate is sampled right before and right after pillow's steps, and the higher of the
    // two is the round's reference: on a shared machine the load drifts within a round, and the
    // higher sample never flatters pillow.
    const sgemmRate = () => {
      const blas = peer(binary, ["sgemm", "512", "2048", "2048", "5"], best.coretype, threads);
      return blas ? sgemmFlops / (blas.median_ms * 1e6) : Number.NaN;
    };
    for (let round = 0; round < Math.max(1, rounds); round++) {
      const before = sgemmRate();
      lora.push(await pillowTrainRate(model, shape, "lora", steps));
      const after = sgemmRate();
      torch.push(torchTrainRate(shape, steps));
      const reference = Math.max(before, after);
      if (Number.isFinite(reference)) sgemm.push(reference);
    }
    // LoRA model FLOPs per trained token: 2·N forward + 2·N for the input gradients (no weight
    // gradients of frozen weights) = 4·N, N = the weights in matmuls (the embedding table is a
    // lookup, not counted); attention scores and the rank-16 factors are left out (a few % at seq
    // 256, more at seq 512).
    const gflops = (4 * decodeWeightCount(shape) * median(lora)) / 1e9;
    // The FMA peak as the machine runs now, in the host's widest vectors (peer harness: 12
    // independent FMA chains per thread on `threads` threads).
    const fma = peer(binary, ["fma_peak", String(threads), "5"]);
    const measuredPeak = fma?.flops ? fma.flops / (fma.best_ms * 1e6) : Number.NaN;
    const sgemmMedian = median(sgemm);
    console.log(
      `LoRA training batch ${batch} x seq ${seq}: ${rounds} interleaved rounds, load average ${loadStart} → ${load()}; ` +
        `OpenBLAS sgemm (higher of before/after pillow, per round) ${sgemm.map((v) => v.toFixed(0)).join(" ")} GFLOP/s; FMA peak ${measuredPeak.toFixed(0)} GFLOP/s (${fma?.vector_bits ?? "?"}-bit vectors, ${threads} threads)`,
    );
    table.push({
      model: `${shape.name} (${(parameterCount(shape) / 1e6).toFixed(1)}M), r ${shape.rank} all linear, batch ${batch} x seq ${seq}`,
      "pillow lora tok/s": median(lora).toFixed(1),
      "torch lora tok/s": median(torch).toFixed(1),
      "vs torch": `${(median(lora) / median(torch)).toFixed(2)}x`,
      [`model GFLOP/s (4·${(decodeWeightCount(shape) / 1e6).toFixed(1)}M per token)`]: gflops.toFixed(1),
      "OpenBLAS sgemm GFLOP/s (same run)": sgemmMedian.toFixed(0),
      "% of sgemm rate": `${((100 * gflops) / sgemmMedian).toFixed(0)}%`,
      "% of FMA peak": `${((100 * gflops) / measuredPeak).toFixed(0)}%`,
      "all runs (pillow | torch)": `${lora.map((v) => v.toFixed(1)).join(" ")} | ${torch.map((v) => v.toFixed(1)).join(" ")}`,
      host: tag,
    });
  }
  console.table(table);
}

/** The issue's 134M reference model (random weights): hidden 768, 12 layers, 12 heads, vocab 32000, untied output. */
export const REFERENCE_134M: Shape = {
  name: "ref-134M",
  hidden: 768,
  intermediate: 2048,
  layers: 12,
  heads: 12,
  vocab: 32000,
  seq: 256,
  batch: 1,
  rank: 16,
  untied: true,
};

export async function runCoreBench(): Promise<void> {
  console.log(`core: ${threads} threads, load average ${load()} (a shared machine: medians of interleaved runs)`);
  console.log(`host: ${hostLine()}`);
  const demo: Shape = {
    name: "demo-3M",
    hidden: 256,
    intermediate: 688,
    layers: 4,
    heads: 8,
    vocab: 259,
    seq: 256,
    batch: 8,
    rank: 8,
  };
  if (process.env.BENCH_CORE_DEMO !== "0") console.table([await trainingTable(demo, 4)]);
  if (process.env.BENCH_CORE_LARGE === "1") {
    await referenceComparison(REFERENCE_134M);
  }
}
