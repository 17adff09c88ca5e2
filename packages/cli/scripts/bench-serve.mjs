#!/usr/bin/env node
// Serving throughput on loopback: N concurrent greedy streams (SSE, plain fetch) of T tokens against
// `pillow serve` with the continuous batcher, and against the engine it replaced (0dcdf14's
// model-engine.ts: one request at a time under the model lock, rebuilt below), same run, same model.
// Reports aggregate completion tokens/s, p50/p99 time to first token, errors, and whether every
// answer equals the same request alone. Also 8 distinct adapters mixed vs one adapter.
//   node packages/cli/scripts/bench-serve.mjs [--model DIR] [--tokens 48] [--streams 1,8,64] [--rounds 2]
// (build first: pnpm build). The machine is shared: the load average is printed beside each table.
import os from "node:os";
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";

// The clients run in a child process: real clients are other processes, SSE parsing on the
// server's event loop would be billed to the server, and the server's CPU time is then its own.
const isMainThread = !process.argv.includes("--client");

async function streamOnce(url, body) {
  const started = performance.now();
  const response = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
  });
  if (response.status !== 200) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let text = "";
  let firstToken;
  let completionTokens = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let newline = buffer.indexOf("\n");
    while (newline >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      newline = buffer.indexOf("\n");
      if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
      const event = JSON.parse(line.slice(6));
      if (event.error) throw new Error(event.error.message);
      if (event.usage) completionTokens = event.usage.completion_tokens;
      const piece = event.choices?.[0]?.text ?? "";
      if (piece && firstToken === undefined) firstToken = performance.now() - started;
      text += piece;
    }
  }
  return { text, completionTokens, firstToken: firstToken ?? performance.now() - started };
}

if (!isMainThread) {
  process.on("message", async ({ url, bodies }) => {
    const settled = await Promise.allSettled(bodies.map((body) => streamOnce(url, body)));
    process.send(settled.map((result) => (result.status === "fulfilled" ? result.value : { error: String(result.reason) })));
  });
}

const { loadModel, NativeBackend, Random } = isMainThread ? await import("@pillow/core") : {};
const { tinyModelDir } = isMainThread ? await import("@pillow/suite") : {};
const { createNativeEngine, startServer } = isMainThread ? await import("../dist/index.js") : {};
const client = isMainThread ? fork(fileURLToPath(import.meta.url), ["--client"]) : null;
/** Runs the streams in the client worker; one result per body ({ error } for a failed one). */
const runStreams = (url, bodies) =>
  new Promise((resolve) => {
    client.once("message", resolve);
    client.send({ url, bodies });
  });

function flag(name, fallback) {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1] : fallback;
}
const modelDir = flag("--model", tinyModelDir);
const tokens = Number(flag("--tokens", "48"));
const streamCounts = flag("--streams", "1,8,64").split(",").map(Number);
const rounds = Number(flag("--rounds", "2"));

/** The engine of 0dcdf14 (packages/cli/src/server/model-engine.ts), reduced to streaming: one request at a time. */
function serialEngine(model, baseName, adapters) {
  return {
    models: () => [baseName, ...adapters.map((adapter) => `${baseName}:${adapter}`)],
    complete: () => Promise.reject(new Error("streaming only")),
    stream(request) {
      const prompt = request.prompt;
      const pending = [];
      let done = false;
      let failure;
      let wake;
      const notify = () => {
        wake?.();
        wake = undefined;
      };
      void model
        .exclusive(async () => {
          model.setActiveAdapter(request.adapter ?? null);
          const iterator = model.streamUnlocked(prompt, request.options);
          let completionTokens = 0;
          while (true) {
            if (request.signal.aborted) return void (await iterator.return(undefined));
            const next = await iterator.next();
            if (next.done) {
              pending.push({ text: "", finishReason: next.value.finishReason === "length" ? "length" : "stop", promptTokens: 0, completionTokens: next.value.tokens.length });
              return;
            }
            if (next.value.token >= 0) completionTokens += 1;
            if (next.value.text) pending.push({ text: next.value.text, completionTokens });
            notify();
          }
        })
        .catch((error) => {
          failure = error;
        })
        .finally(() => {
          done = true;
          notify();
        });
      return {
        async *[Symbol.asyncIterator]() {
          while (true) {
            while (pending.length > 0) yield pending.shift();
            if (failure) throw failure;
            if (done) return;
            await new Promise((resolve) => {
              wake = resolve;
            });
          }
        },
      };
    },
    embed: () => Promise.reject(new Error("not benchmarked")),
  };
}

const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};

async function measure(url, bodies, alone) {
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const settled = await runStreams(url, bodies);
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const ok = settled.filter((result) => result.error === undefined);
  const errors = settled.length - ok.length;
  const total = ok.reduce((sum, result) => sum + result.completionTokens, 0);
  const identical = alone ? settled.every((result, i) => result.error === undefined && result.text === alone[i]) : null;
  return {
    tokensPerSecond: total / seconds,
    tokensPerCpuSecond: total / cpuSeconds,
    cores: cpuSeconds / seconds,
    p50: quantile(ok.map((result) => result.firstToken), 0.5),
    p99: quantile(ok.map((result) => result.firstToken), 0.99),
    errors,
    identical,
  };
}

const prompts = (count, models) =>
  Array.from({ length: count }, (_, i) => ({
    model: models[i % models.length],
    prompt: `### Instruction:\nWrite a short note about topic number ${i}.\n\n### Response:\n`,
    max_tokens: tokens,
    temperature: 0,
    ignore_eos: true,
  }));

function randomAdapter(model, name, seed) {
  model.addAdapter(name, { r: 8, alpha: 16, targetModules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], seed });
  const random = new Random(seed);
  for (const [tensorName, data] of Object.entries(model.adapterTensors(name))) {
    const match = /layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.lora_B/.exec(tensorName);
    if (match) model.native.setAdapterTensor(name, Number(match[1]), match[2], "B", Float32Array.from(data, () => (random.next() - 0.5) * 0.1));
  }
}

if (isMainThread) {
const model = await loadModel(modelDir);
const adapters = Array.from({ length: 8 }, (_, i) => `a${i}`);
for (const [i, name] of adapters.entries()) randomAdapter(model, name, 100 + i);
const base = "m";
const batching = await startServer({ engine: createNativeEngine(new NativeBackend(model), { baseName: base, adapters }), port: 0, concurrency: 64, queueCapacity: 256 });
const serial = await startServer({ engine: serialEngine(model, base, adapters), port: 0, concurrency: 64, queueCapacity: 256 });
console.log(`model ${modelDir} · ${tokens} tokens per stream · ${os.cpus().length} CPUs · ${rounds} rounds, best round reported`);
try {
  // Each request alone on the batching server: the reference every concurrent answer must equal.
  const maxStreams = Math.max(...streamCounts);
  const baseBodies = prompts(maxStreams, [base]);
  const alone = [];
  for (const body of baseBodies) alone.push((await runStreams(batching.url, [body]))[0].text);
  console.log(
    `\n| streams | server | tokens/s | vs 1 stream (same server) | vs old server | tokens per server CPU-s | server cores used | TTFT p50 ms | TTFT p99 ms | errors | identical to alone | load |`,
  );
  console.log(`|---|---|---|---|---|---|---|---|---|---|---|---|`);
  const single = {};
  for (const streams of streamCounts) {
    const bodies = baseBodies.slice(0, streams);
    const best = {};
    for (let round = 0; round < rounds; round++) {
      for (const [name, server] of [["batching", batching], ["old (serial)", serial]]) {
        const result = await measure(server.url, bodies, name === "batching" ? alone.slice(0, streams) : null);
        if (!best[name] || result.tokensPerSecond > best[name].tokensPerSecond) best[name] = result;
      }
    }
    for (const name of ["batching", "old (serial)"]) {
      const result = best[name];
      if (streams === 1) single[name] = result.tokensPerSecond;
      const load = os.loadavg()[0].toFixed(1);
      const ratio = single[name] ? (result.tokensPerSecond / single[name]).toFixed(2) : "–";
      const versusOld = name === "batching" ? (result.tokensPerSecond / best["old (serial)"].tokensPerSecond).toFixed(2) : "1.00";
      console.log(
        `| ${streams} | ${name} | ${result.tokensPerSecond.toFixed(0)} | ${ratio}× | ${versusOld}× | ${result.tokensPerCpuSecond.toFixed(0)} | ${result.cores.toFixed(2)} | ${result.p50.toFixed(0)} | ${result.p99.toFixed(0)} | ${result.errors} | ${result.identical ?? "–"} | ${load} |`,
      );
    }
  }
  // 8 distinct adapters mixed in one batch vs every stream on one adapter.
  const mixedStreams = Math.min(32, maxStreams);
  console.log(`\n| ${mixedStreams} streams | tokens/s | ratio | load |\n|---|---|---|---|`);
  const one = [];
  const eight = [];
  for (let round = 0; round < rounds; round++) {
    one.push((await measure(batching.url, prompts(mixedStreams, [`${base}:a0`]), null)).tokensPerSecond);
    eight.push((await measure(batching.url, prompts(mixedStreams, adapters.map((adapter) => `${base}:${adapter}`)), null)).tokensPerSecond);
  }
  const bestOne = Math.max(...one);
  const bestEight = Math.max(...eight);
  console.log(`| one adapter | ${bestOne.toFixed(0)} | 1.00 | ${os.loadavg()[0].toFixed(1)} |`);
  console.log(`| 8 adapters mixed | ${bestEight.toFixed(0)} | ${(bestEight / bestOne).toFixed(2)} | ${os.loadavg()[0].toFixed(1)} |`);
  // A 64-stream burst against a small KV budget: requests wait for room, none fails, memory stays flat.
  const kvCacheMb = Number(flag("--burst-kv-cache-mb", "4"));
  const burstBackend = new NativeBackend(model, { batching: { kvCacheBytes: kvCacheMb * 2 ** 20 } });
  const burst = await startServer({ engine: createNativeEngine(burstBackend, { baseName: base, adapters }), port: 0, concurrency: 64, queueCapacity: 256 });
  try {
    const mib = (bytes) => (bytes / 2 ** 20).toFixed(1);
    await measure(burst.url, prompts(4, [base]), null); // warm: workspace buffers, rope tables
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    let running = 0;
    let waiting = 0;
    let kvPeak = 0;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
      const stats = burstBackend.batcher.stats();
      running = Math.max(running, stats.running);
      waiting = Math.max(waiting, stats.waiting);
      kvPeak = Math.max(kvPeak, stats.kvCacheBytesUsed);
    }, 5);
    const result = await measure(burst.url, prompts(64, [base]), null);
    clearInterval(sampler);
    const rssAfter = process.memoryUsage().rss;
    console.log(`\n| burst: 64 streams, --kv-cache-mb ${kvCacheMb} | value |\n|---|---|`);
    console.log(`| errors | ${result.errors} |\n| most running at once | ${running} |\n| most waiting for KV room | ${waiting} |`);
    console.log(`| KV cache held, peak | ${mib(kvPeak)} MiB of ${kvCacheMb} |\n| RSS before / peak / after | ${mib(rssBefore)} / ${mib(rssPeak)} / ${mib(rssAfter)} MiB |`);
    console.log(`| tokens/s | ${result.tokensPerSecond.toFixed(0)} (load ${os.loadavg()[0].toFixed(1)}) |`);
  } finally {
    await burst.close(1000);
  }
} finally {
  await batching.close(1000);
  await serial.close(1000);
  client.kill();
}
}
