#!/usr/bin/env node
// The model-level step of gpu-check.sh: a LlamaModel created with device "cuda" against the same
// model on the CPU, through the addon alone (no TypeScript build needed on the GPU machine).
// A tiny random model (2 layers, hidden 32, GQA 4:2, vocab 97) with a rank-4 LoRA adapter:
//   - prefill logits (relative error <= 1e-4) and 16 greedy KV-cache decode steps (same tokens),
//   - LoRA lossAndGrad: loss within 1e-5 relative, every gradient within 1e-4 relative,
//   - three lossAndGrad + adamwStep rounds: the same losses (1e-4) and adapter (1e-3).
// Prints one line per check and exits non-zero on any failure.
//   node scripts/gpu-model-check.mjs ADDON
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const addonPath = process.argv[2];
if (!addonPath) {
  console.error("usage: gpu-model-check.mjs ADDON");
  process.exit(2);
}
const addon = require(addonPath);

const config = {
  vocabSize: 97,
  hiddenSize: 32,
  intermediateSize: 48,
  numLayers: 2,
  numHeads: 4,
  numKeyValueHeads: 2,
  headDim: 8,
  maxPositionEmbeddings: 64,
  rmsNormEps: 1e-5,
  ropeTheta: 10000,
  ropeScaling: null,
  tieWordEmbeddings: false,
  attentionBias: false,
};
const modules = ["q_proj", "v_proj", "o_proj", "down_proj"];

function random(n, seed, scale) {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
  return a;
}

function build(device) {
  const model = new addon.LlamaModel(config, { device });
  model.tensorNames().forEach((name, index) => {
    const size = model.tensorShape(name).reduce((x, y) => x * y, 1);
    model.setTensor(name, name.includes("norm") ? new Float32Array(size).fill(1) : random(size, 100 + index, 0.3));
  });
  model.addAdapter("check", { rank: 4, scale: 2, targetModules: modules });
  for (let layer = 0; layer < config.numLayers; layer++) {
    modules.forEach((module, m) => {
      for (const which of ["A", "B"]) {
        const size = model.getAdapterTensor("check", layer, module, which).length;
        model.setAdapterTensor(
          "check",
          layer,
          module,
          which,
          random(size, 1000 + layer * 10 + m * 2 + (which === "B" ? 1 : 0), 0.2),
        );
      }
    });
  }
  model.setActiveAdapter("check");
  return model;
}

function relativeError(actual, expected) {
  let difference = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    difference = Math.max(difference, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return actual.length === expected.length ? difference / Math.max(scale, 1e-30) : Number.POSITIVE_INFINITY;
}

function argmax(row) {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

async function greedy(model, prompt, steps) {
  const tokens = [];
  let logits = await model.forward(prompt, { useCache: true, startPosition: 0, lastOnly: true });
  for (let step = 0; step < steps; step++) {
    const token = argmax(logits);
    tokens.push(token);
    logits = await model.forward(Int32Array.of(token), {
      useCache: true,
      startPosition: prompt.length + step,
      lastOnly: true,
    });
  }
  return tokens;
}

let failures = 0;
function check(what, ok, detail) {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}${detail ? ` (${detail})` : ""}`);
  if (!ok) failures++;
}

const cpu = build("cpu");
const cuda = build("cuda");
check("device", cuda.device() === "cuda" && cpu.device() === "cpu", `${cuda.device()} / ${cpu.device()}`);
const prompt = Int32Array.from({ length: 11 }, (_, i) => (i * 37 + 5) % config.vocabSize);
const prefill = relativeError(await cuda.forward(prompt, {}), await cpu.forward(prompt, {}));
check("prefill logits", prefill <= 1e-4, `relative error ${prefill.toExponential(2)}`);
const expectedTokens = await greedy(cpu, prompt, 16);
const actualTokens = await greedy(cuda, prompt, 16);
check("16 greedy KV-cache decode steps", expectedTokens.join(",") === actualTokens.join(","), actualTokens.join(","));

const labels = Int32Array.from(prompt);
labels[0] = -100;
const expected = await cpu.lossAndGrad(prompt, labels, { mode: "lora" });
const actual = await cuda.lossAndGrad(prompt, labels, { mode: "lora" });
check(
  "LoRA loss",
  Math.abs(actual.lossSum - expected.lossSum) <= 1e-5 * Math.max(1, Math.abs(expected.lossSum)),
  `${actual.lossSum} vs ${expected.lossSum}`,
);
const cpuGrads = cpu.gradients("lora");
const cudaGrads = cuda.gradients("lora");
const worst = Math.max(...Object.keys(cpuGrads).map((key) => relativeError(cudaGrads[key], cpuGrads[key])));
check(
  `LoRA gradients (${Object.keys(cpuGrads).length} tensors)`,
  worst <= 1e-4,
  `worst relative error ${worst.toExponential(2)}`,
);

const losses = { cpu: [], cuda: [] };
for (let step = 1; step <= 3; step++) {
  for (const [name, model] of [
    ["cpu", cpu],
    ["cuda", cuda],
  ]) {
    const result = await model.lossAndGrad(prompt, labels, { mode: "lora" });
    losses[name].push(result.lossSum);
    await model.adamwStep("lora", { learningRate: 1e-2, step, maxGradNorm: 1 });
  }
}
const lossGap = Math.max(...losses.cpu.map((loss, i) => Math.abs(losses.cuda[i] - loss) / Math.max(1, Math.abs(loss))));
check("3 training steps: losses", lossGap <= 1e-4, `cuda ${losses.cuda.map((l) => l.toFixed(5)).join(", ")}`);
const adapterGap = relativeError(
  cuda.getAdapterTensor("check", 1, "down_proj", "B"),
  cpu.getAdapterTensor("check", 1, "down_proj", "B"),
);
check("3 training steps: adapter", adapterGap <= 1e-3, `relative error ${adapterGap.toExponential(2)}`);

cpu.dispose();
cuda.dispose();
console.log(`gpu-model-check: ${failures === 0 ? "passed" : `${failures} failed`}`);
process.exit(failures === 0 ? 0 : 1);
