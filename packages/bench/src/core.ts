// `pnpm bench core`: the native model runtime (@pillow/core) against plain PyTorch 1.13 (same
// LLaMA + LoRA math, torch.optim.AdamW) in the same run. Models are random-weight HF folders
// written by createTinyModel: the demo's tiny model, and (BENCH_CORE_LARGE=1) the 134M
// reference (hidden 768, 12 layers, 12 heads, intermediate 2048, vocab 32000).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createTinyModel, loadModel } from "@pillow/core";

type Shape = { name: string; hidden: number; intermediate: number; layers: number; heads: number; vocab: number; seq: number; batch: number; rank: number };

const here = path.dirname(fileURLToPath(import.meta.url));
const torchScript = path.resolve(here, "..", "tools", "torch_lora_train.py");
const python = process.env.PILLOW_PYTHON ?? (fs.existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3");
const threads = Number(process.env.BENCH_THREADS ?? 2);
const ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const;

function parameterCount(s: Shape): number {
  return s.layers * (4 * s.hidden * s.hidden + 3 * s.hidden * s.intermediate + 2 * s.hidden) + s.vocab * s.hidden + s.hidden;
}

async function measure(shape: Shape, steps: number) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pillow-bench-${shape.name}-`));
  try {
    createTinyModel(dir, {
      hiddenSize: shape.hidden,
      intermediateSize: shape.intermediate,
      numLayers: shape.layers,
      numHeads: shape.heads,
      vocabSize: shape.vocab,
      maxPositionEmbeddings: Math.max(512, shape.seq),
      tokenizer: false,
    });
    const model = await loadModel(dir, { threads });
    model.addAdapter("bench", { r: shape.rank, alpha: 2 * shape.rank, targetModules: [...ALL] });
    const tokens = new Int32Array(shape.batch * shape.seq).map((_, i) => (i * 7919) % shape.vocab);
    const labels = Int32Array.from(tokens);
    const trainRate = async (mode: "lora" | "full") => {
      model.setActiveAdapter(mode === "lora" ? "bench" : null);
      const step = async (index: number) => {
        await model.native.lossAndGrad(tokens, labels, { batch: shape.batch, mode, gradScale: 1 / tokens.length });
        await model.native.adamwStep(mode, { learningRate: 1e-5, step: index + 1 });
      };
      await step(0);
      const started = performance.now();
      for (let i = 1; i <= steps; i++) await step(i);
      return (shape.batch * shape.seq * steps) / ((performance.now() - started) / 1000);
    };
    const lora = await trainRate("lora");
    const full = await trainRate("full");
    model.setActiveAdapter(null);
    const prompt = tokens.subarray(0, shape.seq);
    await model.native.forward(prompt, { lastOnly: true });
    let started = performance.now();
    for (let i = 0; i < steps; i++) await model.native.forward(prompt, { lastOnly: true });
    const prefill = (shape.seq * steps) / ((performance.now() - started) / 1000);
    const decodeTokens = 32;
    await model.native.forward(prompt.subarray(0, 16), { useCache: true, startPosition: 0, lastOnly: true });
    started = performance.now();
    for (let i = 0; i < decodeTokens; i++) {
      await model.native.forward(Int32Array.of(i % shape.vocab), { useCache: true, startPosition: 16 + i, lastOnly: true });
    }
    const decode = decodeTokens / ((performance.now() - started) / 1000);
    const torchRun = spawnSync(
      python,
      [torchScript, ...[shape.hidden, shape.intermediate, shape.layers, shape.heads, shape.vocab, shape.seq, shape.batch, shape.rank, steps, threads].map(String)],
      { encoding: "utf8" },
    );
    const torch = torchRun.status === 0 ? (JSON.parse(torchRun.stdout.trim().split("\n").pop() as string).train_tokens_per_second as number) : Number.NaN;
    return { lora, full, prefill, decode, torch };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function runCoreBench(): Promise<void> {
  const shapes: Shape[] = [{ name: "demo-3M", hidden: 256, intermediate: 688, layers: 4, heads: 8, vocab: 259, seq: 256, batch: 8, rank: 8 }];
  if (process.env.BENCH_CORE_LARGE === "1") {
    shapes.push({ name: "ref-134M", hidden: 768, intermediate: 2048, layers: 12, heads: 12, vocab: 32000, seq: 256, batch: 1, rank: 16 });
  }
  console.log(`core: ${threads} threads, load average ${os.loadavg()[0].toFixed(1)} (timings on a shared machine are noisy)`);
  const rows = [];
  for (const shape of shapes) {
    const r = await measure(shape, shape.name === "ref-134M" ? 2 : 4);
    const flops = 4 * parameterCount(shape) * r.lora;
    rows.push({
      model: `${shape.name} (${(parameterCount(shape) / 1e6).toFixed(1)}M)`,
      "lora train tok/s": r.lora.toFixed(0),
      "torch lora tok/s": r.torch.toFixed(0),
      "vs torch": `${(r.lora / r.torch).toFixed(2)}x`,
      "lora GFLOP/s (4·params)": (flops / 1e9).toFixed(1),
      "full train tok/s": r.full.toFixed(0),
      [`prefill ${shape.seq} tok/s`]: r.prefill.toFixed(0),
      "decode tok/s": r.decode.toFixed(1),
    });
  }
  console.table(rows);
}
