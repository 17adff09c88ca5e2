// `pnpm bench serve`: `pillow serve` (continuous batching) on loopback through the official `openai`
// npm client, run in a child process (src/serve-client.ts). Same run, interleaved rounds:
//  1. tiny model: N concurrent greedy streams of T tokens vs one stream (aggregate tokens/s, TTFT
//     p50/p99, errors, every answer equal to the same request alone), and the engine alone (no HTTP);
//  2. the 134M reference model: 32 streams through pillow serve vs node-llama-cpp with 32 sequences
//     in one context (its batched decoding), same weights (GGUF from core's exporter), same tokens;
//  3. 8 distinct adapters mixed in one batch vs every stream on one adapter;
//  4. a 64-stream burst against a small KV-cache budget: RSS before/peak/after, nobody fails;
//  5. the ceiling of HTTP and the client: the same server and client around a scripted engine that
//     costs nothing (one token per stream per millisecond timer), against the model's one stream.
// Env: BENCH_SERVE_TOKENS (48), BENCH_SERVE_STREAMS (1,8,32,64), BENCH_SERVE_ROUNDS (3),
// BENCH_SERVE_LARGE=0 skips the 134M part, BENCH_SERVE_LARGE_TOKENS (32), BENCH_THREADS (2),
// BENCH_SERVE_BURST_KV_MB (4). Ratios are taken within a round; the median and range over rounds are
// printed, with the load average beside each table.
import { fork } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createNativeEngine, createScriptedEngine, startServer } from "@pillow/cli";
import { ContinuousBatcher, exportModelToGguf, loadModel, type Model, NativeBackend, Random } from "@pillow/core";
import { tinyModelDir } from "@pillow/suite";
import { REFERENCE_134M, writeModel } from "./core.js";
import { llamaCppParallelDecode, openLlamaCppModel } from "./llama-cpp-peer.js";
import type { ClientAnswer, ClientJob, StreamOutcome } from "./serve-client.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const tokens = Number(process.env.BENCH_SERVE_TOKENS ?? 48);
const streamCounts = (process.env.BENCH_SERVE_STREAMS ?? "1,8,32,64").split(",").map(Number);
const rounds = Number(process.env.BENCH_SERVE_ROUNDS ?? 3);
const largeTokens = Number(process.env.BENCH_SERVE_LARGE_TOKENS ?? 32);
const threads = Number(process.env.BENCH_THREADS ?? 2);
const burstKvMb = Number(process.env.BENCH_SERVE_BURST_KV_MB ?? 4);
const load = () => os.loadavg()[0].toFixed(1);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const quantile = (values: number[], q: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))];
/** "median (min–max)" of per-round values. */
const spread = (values: number[], digits: number, unit = "") =>
  `${median(values).toFixed(digits)}${unit} (${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)})`;

type Body = ClientJob["bodies"][number];
type Measured = {
  tokensPerSecond: number;
  serverCpuMsPerToken: number;
  clientCpuMsPerToken: number;
  p50: number;
  p99: number;
  errors: number;
  identical: boolean | null;
  texts: string[];
};

/** The client process; one job at a time. */
class Client {
  private readonly child = fork(path.join(here, "serve-client.js"));
  run(url: string, bodies: Body[]): Promise<ClientAnswer> {
    return new Promise((resolve) => {
      this.child.once("message", (answer) => resolve(answer as ClientAnswer));
      this.child.send({ url, bodies } satisfies ClientJob);
    });
  }
  close(): void {
    this.child.kill();
  }
}

async function measure(client: Client, url: string, bodies: Body[], alone?: string[]): Promise<Measured> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const answer = await client.run(url, bodies);
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const ok = answer.outcomes.filter(
    (outcome): outcome is Exclude<StreamOutcome, { error: string }> => !("error" in outcome),
  );
  const total = ok.reduce((sum, outcome) => sum + outcome.completionTokens, 0);
  const texts = answer.outcomes.map((outcome) => ("error" in outcome ? `<${outcome.error}>` : outcome.text));
  return {
    tokensPerSecond: total / seconds,
    serverCpuMsPerToken: (used.user + used.system) / 1000 / total,
    clientCpuMsPerToken: answer.cpuMs / total,
    p50: quantile(
      ok.map((outcome) => outcome.firstTokenMs),
      0.5,
    ),
    p99: quantile(
      ok.map((outcome) => outcome.firstTokenMs),
      0.99,
    ),
    errors: answer.outcomes.length - ok.length,
    identical: alone ? texts.every((text, i) => text === alone[i]) : null,
    texts,
  };
}

const bodiesOf = (
  count: number,
  models: string[],
  maxTokens: number,
  prompt = (i: number) => `### Instruction:\nWrite a short note about topic number ${i}.\n\n### Response:\n`,
): Body[] =>
  Array.from(
    { length: count },
    (_, i) =>
      ({
        model: models[i % models.length],
        prompt: prompt(i),
        max_tokens: maxTokens,
        temperature: 0,
        ignore_eos: true,
        stream: true,
      }) as Body,
  );

/** The same requests on the batcher directly: what the engine does without HTTP. */
async function engineAlone(model: Model, bodies: Body[]): Promise<number> {
  const batcher = new ContinuousBatcher(model);
  try {
    const started = performance.now();
    const results = await Promise.all(
      bodies.map(
        (body) =>
          batcher.submit({
            prompt: body.prompt as string,
            options: { maxNewTokens: body.max_tokens ?? tokens, temperature: 0, ignoreEos: true },
          }).result,
      ),
    );
    return results.reduce((sum, result) => sum + result.tokens.length, 0) / ((performance.now() - started) / 1000);
  } finally {
    await batcher.close();
  }
}

/** A LoRA on every linear layer with random non-zero B, so adapter rows really differ. */
function randomAdapter(model: Model, name: string, seed: number): void {
  model.addAdapter(name, {
    r: 8,
    alpha: 16,
    targetModules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    seed,
  });
  const random = new Random(seed);
  for (const [tensorName, data] of Object.entries(model.adapterTensors(name))) {
    const match = /layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.lora_B/.exec(tensorName);
    if (match)
      model.native.setAdapterTensor(
        name,
        Number(match[1]),
        match[2] as never,
        "B",
        Float32Array.from(data, () => (random.next() - 0.5) * 0.1),
      );
  }
}

const serve = (backend: NativeBackend, adapters: string[]) =>
  startServer({
    engine: createNativeEngine(backend, { baseName: "m", adapters }),
    port: 0,
    concurrency: 64,
    queueCapacity: 256,
  });

async function tinyModelTables(client: Client): Promise<void> {
  const model = await loadModel(tinyModelDir, { threads });
  const adapters = Array.from({ length: 8 }, (_, i) => `a${i}`);
  for (const [i, name] of adapters.entries()) randomAdapter(model, name, 100 + i);
  const server = await serve(new NativeBackend(model), adapters);
  // The ceiling: pillow serve's HTTP/SSE path and the openai client with no model behind them.
  const scripted = await startServer({
    engine: createScriptedEngine({ base: "m", tokenDelayMs: 1 }),
    port: 0,
    concurrency: 64,
    queueCapacity: 256,
  });
  try {
    const maxStreams = Math.max(...streamCounts);
    const bodies = bodiesOf(maxStreams, ["m"], tokens);
    // Each request alone: the reference every concurrent answer must equal (also the warm-up).
    const alone: string[] = [];
    for (const body of bodies) alone.push((await measure(client, server.url, [body])).texts[0]);
    const perRound = new Map<number, Measured[]>(streamCounts.map((count) => [count, []]));
    const engine = new Map<number, number[]>(streamCounts.map((count) => [count, []]));
    const ceiling = new Map<number, Measured[]>(streamCounts.map((count) => [count, []]));
    const loadStart = load();
    for (let round = 0; round < rounds; round++) {
      for (const count of streamCounts) {
        perRound.get(count)?.push(await measure(client, server.url, bodies.slice(0, count), alone.slice(0, count)));
        engine.get(count)?.push(await engineAlone(model, bodies.slice(0, count)));
        ceiling.get(count)?.push(await measure(client, scripted.url, bodies.slice(0, count)));
      }
    }
    console.log(
      `\ntiny model (${tinyModelDir}), ${tokens}-token greedy streams through the openai client, ${rounds} rounds, load ${loadStart} → ${load()}`,
    );
    const one = perRound.get(streamCounts[0]) ?? [];
    const engineOne = engine.get(streamCounts[0]) ?? [];
    console.table(
      streamCounts.map((count) => {
        const runs = perRound.get(count) ?? [];
        const engineRuns = engine.get(count) ?? [];
        return {
          streams: count,
          "tokens/s": spread(
            runs.map((run) => run.tokensPerSecond),
            0,
          ),
          [`vs ${streamCounts[0]} stream (same round)`]: spread(
            runs.map((run, i) => run.tokensPerSecond / one[i].tokensPerSecond),
            2,
            "x",
          ),
          "TTFT p50 / p99 ms": `${median(runs.map((run) => run.p50)).toFixed(0)} / ${median(runs.map((run) => run.p99)).toFixed(0)}`,
          "server / client CPU ms per token": `${median(runs.map((run) => run.serverCpuMsPerToken)).toFixed(3)} / ${median(runs.map((run) => run.clientCpuMsPerToken)).toFixed(3)}`,
          errors: runs.reduce((sum, run) => sum + run.errors, 0),
          "identical to alone": runs.every((run) => run.identical),
          "engine alone tok/s": spread(engineRuns, 0),
          "engine vs 1": spread(
            engineRuns.map((value, i) => value / engineOne[i]),
            2,
            "x",
          ),
        };
      }),
    );

    // What N streams could reach if the model cost nothing: the HTTP/SSE server and the client process
    // share the machine's cores with each other (and, for the model, with the native threads).
    console.log(
      `\nceiling: the same server and openai client around a scripted engine that costs nothing (one token per stream per 1 ms timer, ${tokens} tokens), against the model's one stream of the same round`,
    );
    console.table(
      streamCounts.map((count) => {
        const runs = ceiling.get(count) ?? [];
        return {
          streams: count,
          "tokens/s": spread(
            runs.map((run) => run.tokensPerSecond),
            0,
          ),
          [`vs the model's ${streamCounts[0]} stream`]: spread(
            runs.map((run, i) => run.tokensPerSecond / one[i].tokensPerSecond),
            2,
            "x",
          ),
          "server / client CPU ms per token": `${median(runs.map((run) => run.serverCpuMsPerToken)).toFixed(3)} / ${median(runs.map((run) => run.clientCpuMsPerToken)).toFixed(3)}`,
          errors: runs.reduce((sum, run) => sum + run.errors, 0),
        };
      }),
    );

    // 8 distinct adapters mixed in one batch vs every stream on one adapter.
    const mixed = Math.min(32, maxStreams);
    const single: number[] = [];
    const eight: number[] = [];
    for (let round = 0; round < rounds; round++) {
      single.push((await measure(client, server.url, bodiesOf(mixed, ["m:a0"], tokens))).tokensPerSecond);
      eight.push(
        (
          await measure(
            client,
            server.url,
            bodiesOf(
              mixed,
              adapters.map((adapter) => `m:${adapter}`),
              tokens,
            ),
          )
        ).tokensPerSecond,
      );
    }
    console.log(`\n${mixed} streams, 8 adapters mixed vs one adapter (load ${load()})`);
    console.table([
      { batch: "one adapter", "tokens/s": spread(single, 0), ratio: "1.00" },
      {
        batch: "8 adapters mixed",
        "tokens/s": spread(eight, 0),
        ratio: spread(
          eight.map((value, i) => value / single[i]),
          2,
          "x",
        ),
      },
    ]);
  } finally {
    await server.close(1000);
    await scripted.close(1000);
  }

  // A 64-stream burst against a small KV budget: requests wait for room, none fails, memory stays flat.
  const burstBackend = new NativeBackend(model, { batching: { kvCacheBytes: burstKvMb * 2 ** 20 } });
  const burst = await serve(burstBackend, []);
  try {
    const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
    await measure(client, burst.url, bodiesOf(4, ["m"], tokens)); // warm: workspace buffers, rope tables
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
    const result = await measure(client, burst.url, bodiesOf(64, ["m"], tokens));
    clearInterval(sampler);
    const rssAfter = process.memoryUsage().rss;
    console.log(`\nburst: 64 streams against --kv-cache-mb ${burstKvMb} (load ${load()})`);
    console.table([
      {
        errors: result.errors,
        "most running at once": running,
        "most waiting for KV room": waiting,
        "KV held, peak MiB": `${mib(kvPeak)} of ${burstKvMb}`,
        "RSS before / peak / after MiB": `${mib(rssBefore)} / ${mib(rssPeak)} / ${mib(rssAfter)}`,
        "tokens/s": result.tokensPerSecond.toFixed(0),
      },
    ]);
  } finally {
    await burst.close(1000);
  }
}

/** The 134M reference, 32 streams: pillow serve vs node-llama-cpp with 32 sequences in one context. */
async function referenceTable(client: Client): Promise<void> {
  const streams = 32;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-bench-serve-"));
  try {
    const hf = path.join(dir, "hf");
    writeModel(hf, REFERENCE_134M);
    exportModelToGguf(hf, path.join(dir, "f32.gguf"), { dtype: "f32" });
    const model = await loadModel(hf, { threads });
    const server = await serve(new NativeBackend(model), []);
    // Short prompts: the comparison is about batched decoding; both read the very same token ids.
    const bodies = bodiesOf(streams, ["m"], largeTokens, (i) => `Note ${i}:`);
    const promptIds = bodies.map((body) => model.encodePrompt(body.prompt as string, true));
    const llamaRunners = [];
    // llama.cpp's threads busy-wait at each op's barrier, which a shared machine punishes: it runs
    // with `threads` and with 1, and pillow is compared with the faster (as in `pnpm bench core`).
    for (const count of threads > 1 ? [threads, 1] : [threads]) {
      llamaRunners.push({
        threads: count,
        runner: await openLlamaCppModel(path.join(dir, "f32.gguf"), {
          threads: count,
          contextSize: streams * 128,
          batchSize: 512,
          sequences: streams,
        }),
      });
    }
    try {
      const pillow: Measured[] = [];
      const engine: number[] = [];
      const llama = new Map<number, number[]>(llamaRunners.map(({ threads: count }) => [count, []]));
      const llamaTtft: number[] = [];
      await measure(client, server.url, bodies.slice(0, 2)); // warm-up
      const loadStart = load();
      for (let round = 0; round < rounds; round++) {
        pillow.push(await measure(client, server.url, bodies));
        engine.push(await engineAlone(model, bodies));
        for (const { threads: count, runner } of llamaRunners) {
          const result = await llamaCppParallelDecode(runner, promptIds, largeTokens);
          llama.get(count)?.push(result.tokensPerSecond);
          if (count === threads) llamaTtft.push(median(result.firstTokenMs));
        }
      }
      const best = pillow.map((_, i) => Math.max(...[...llama.values()].map((values) => values[i])));
      console.log(
        `\n134M reference (random weights, f32), ${streams} streams × ${largeTokens} greedy tokens, ${rounds} rounds, load ${loadStart} → ${load()}`,
      );
      console.table([
        {
          engine: "pillow serve (openai client)",
          "tokens/s": spread(
            pillow.map((run) => run.tokensPerSecond),
            1,
          ),
          "vs llama.cpp (faster, same round)": spread(
            pillow.map((run, i) => run.tokensPerSecond / best[i]),
            2,
            "x",
          ),
          "TTFT p50 ms": median(pillow.map((run) => run.p50)).toFixed(0),
          errors: pillow.reduce((sum, run) => sum + run.errors, 0),
        },
        {
          engine: "pillow engine alone (no HTTP)",
          "tokens/s": spread(engine, 1),
          "vs llama.cpp (faster, same round)": spread(
            engine.map((value, i) => value / best[i]),
            2,
            "x",
          ),
        },
        ...llamaRunners.map(({ threads: count }) => ({
          engine: `node-llama-cpp, ${streams} sequences, ${count} thread${count > 1 ? "s" : ""}`,
          "tokens/s": spread(llama.get(count) ?? [], 1),
          "TTFT p50 ms": count === threads ? median(llamaTtft).toFixed(0) : "",
        })),
      ]);
    } finally {
      for (const { runner } of llamaRunners) await runner.dispose();
      await server.close(1000);
      model.dispose();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function serveBenchmark(): Promise<void> {
  console.log(`serve: ${os.cpus().length} CPUs, ${threads} native threads, load average ${load()}`);
  const client = new Client();
  try {
    await tinyModelTables(client);
    if (process.env.BENCH_SERVE_LARGE !== "0") await referenceTable(client);
  } finally {
    client.close();
  }
}
