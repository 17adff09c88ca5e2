// One decode step of N sequences through the native forwardSequences alone (prompts prefilled
// first): mean ms per step over --steps steps, for perf/timing of the native side only.
//   node packages/cli/scripts/profile-decode-step.mjs [--rows 64] [--steps 200] [--threads 2] [--model DIR]
import os from "node:os";
import { loadModel } from "@pillow/core";
import { tinyModelDir } from "@pillow/suite";

const flag = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const rows = Number(flag("--rows", "64"));
const steps = Number(flag("--steps", "200"));
const model = await loadModel(
  flag("--model", tinyModelDir),
  process.argv.includes("--threads") ? { threads: Number(flag("--threads", "2")) } : {},
);
const native = model.native;
const prompt = 48;
const ids = Array.from({ length: rows }, () => native.createSequence(prompt + steps + 1));
for (const [i, sequence] of ids.entries()) {
  await native.forwardSequences(
    Int32Array.from({ length: prompt }, (_, t) => (t * 7 + i) % 250),
    [{ sequence, start: 0, count: prompt, adapter: null }],
  );
}
const tokens = new Int32Array(rows).fill(65);
const started = performance.now();
for (let s = 0; s < steps; s++) {
  await native.forwardSequences(
    tokens,
    ids.map((sequence) => ({ sequence, start: prompt + s, count: 1, adapter: null })),
  );
}
const ms = (performance.now() - started) / steps;
console.log(
  `rows ${rows}: ${ms.toFixed(3)} ms/step, ${((rows / ms) * 1000).toFixed(0)} rows/s, load ${os.loadavg()[0].toFixed(1)}`,
);
