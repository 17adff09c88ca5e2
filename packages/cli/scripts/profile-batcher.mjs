// Where a step of N sequences spends its time, engine alone (no HTTP): wall per step, time inside
// the native forwardSequences call, and the rest (JS: plan, argmax/sampling, text, channels).
//   node packages/cli/scripts/profile-batcher.mjs [--streams 1,8,64] [--tokens 48] [--threads N] [--model DIR]
import os from "node:os";
import { loadModel, ContinuousBatcher } from "@pillow/core";
import { tinyModelDir } from "@pillow/suite";

const flag = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const model = await loadModel(
  flag("--model", tinyModelDir),
  process.argv.includes("--threads") ? { threads: Number(flag("--threads", "2")) } : {},
);
const tokens = Number(flag("--tokens", "48"));
const native = model.native;
const original = native.forwardSequences.bind(native);
let nativeMs = 0,
  calls = 0,
  rows = 0;
const timed = async (t, s) => {
  const t0 = performance.now();
  const r = await original(t, s);
  nativeMs += performance.now() - t0;
  calls++;
  rows += s.length;
  return r;
};
Object.defineProperty(model, "native", {
  value: new Proxy(native, {
    get: (target, key) =>
      key === "forwardSequences" ? timed : typeof target[key] === "function" ? target[key].bind(target) : target[key],
  }),
});
const prompt = (i) => `### Instruction:\nWrite a short note about topic number ${i}.\n\n### Response:\n`;
for (const n of flag("--streams", "1,8,64").split(",").map(Number)) {
  for (let round = 0; round < 2; round++) {
    const batcher = new ContinuousBatcher(model);
    nativeMs = 0;
    calls = 0;
    rows = 0;
    const t0 = performance.now();
    const streams = Array.from({ length: n }, (_, i) =>
      batcher.submit({ prompt: prompt(i), options: { maxNewTokens: tokens, temperature: 0, ignoreEos: true } }),
    );
    const results = await Promise.all(
      streams.map(async (s) => {
        for await (const _ of s);
        return s.result;
      }),
    );
    const wall = performance.now() - t0;
    const generated = results.reduce((a, r) => a + r.tokens.length, 0);
    if (round === 1)
      console.log(
        `streams ${n}: ${((generated / wall) * 1000).toFixed(0)} tok/s, steps ${calls} (${(rows / calls).toFixed(1)} sequences each), wall/step ${(wall / calls).toFixed(3)} ms, native/step ${(nativeMs / calls).toFixed(3)} ms, js/step ${((wall - nativeMs) / calls).toFixed(3)} ms, load ${os.loadavg()[0].toFixed(1)}`,
      );
    await batcher.close();
  }
}
