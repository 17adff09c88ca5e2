import path from "node:path";
import type { Command } from "commander";
import { commandContext, parseInteger } from "../context.js";
import { collect, openModel, parseAdapterSpec } from "../model-options.js";
import { startServer } from "../server/listen.js";
import { NativeBackend } from "@pillow/core";
import { createNativeEngine } from "../server/native-engine.js";
import { pick } from "../config.js";
import { loadMatcherSelector } from "../matching/matcher-demos.js";

type ServeFlags = {
  model?: string;
  adapter?: string[];
  matcher?: string;
  host?: string;
  port?: number;
  apiKey?: string;
  maxTokens?: number;
  maxBody?: number;
  concurrency?: number;
  queue?: number;
  kvCacheMb?: number;
  prefillChunk?: number;
};

export function registerServe(program: Command): void {
  program
    .command("serve")
    .description("an OpenAI-compatible server: /v1/completions, /v1/chat/completions (SSE), /v1/models, /v1/embeddings")
    .option("--model <dir>", "base model folder")
    .option("--adapter <name=dir>", "a PEFT adapter, served as <base>:<name> (repeatable)", collect)
    .option(
      "--matcher <dir>",
      "a PILLOW matcher folder (from `pillow match train`): requests with `pillow: {demos: k}` get demonstrations",
    )
    .option("--host <host>", "interface to listen on (default 127.0.0.1)")
    .option("--port <n>", "port (0 = any free port; default 8000)", parseInteger("--port", 0))
    .option("--api-key <key>", "require `Authorization: Bearer <key>` (or set PILLOW_API_KEY)")
    .option(
      "--max-tokens <n>",
      "largest max_tokens a request may ask for (default 2048)",
      parseInteger("--max-tokens", 1),
    )
    .option("--max-body <bytes>", "largest request body (default 1048576)", parseInteger("--max-body", 1))
    .option(
      "--concurrency <n>",
      "requests generating at once, batched into the same decode steps (default 64)",
      parseInteger("--concurrency", 1),
    )
    .option(
      "--queue <n>",
      "requests allowed to wait for a slot; more get 429 (default 256)",
      parseInteger("--queue", 0),
    )
    .option(
      "--kv-cache-mb <n>",
      "KV-cache budget of the running requests; the rest wait (default: 64 full-context sequences, at most a quarter of free memory)",
      parseInteger("--kv-cache-mb", 1),
    )
    .option(
      "--prefill-chunk <n>",
      "prompt tokens a request feeds per decode step while it starts (default 64)",
      parseInteger("--prefill-chunk", 1),
    )
    .addHelpText(
      "after",
      `
Examples:
  pillow serve --model ./tiny --adapter math=./runs/math --port 8000
  curl localhost:8000/v1/completions -d '{"model":"tiny:math","prompt":"...","max_tokens":16}'
  pillow serve --model ./tiny --matcher pillow-report/matcher --api-key secret`,
    )
    .action(async (flags: ServeFlags, command: Command) => {
      const context = commandContext(command);
      const serveConfig = context.config.serve ?? {};
      const model = await openModel(flags.model, context.config);
      const adapters = (flags.adapter ?? []).map(parseAdapterSpec);
      for (const adapter of adapters) model.loadAdapter(adapter.directory, adapter.name);
      const baseName = path.basename(path.resolve(model.directory));
      const kvCacheMb = flags.kvCacheMb ?? serveConfig.kvCacheMb;
      const concurrency = pick(flags.concurrency, serveConfig.concurrency, 64);
      const backend = new NativeBackend(model, {
        batching: {
          kvCacheBytes: kvCacheMb === undefined ? undefined : kvCacheMb * 2 ** 20,
          prefillChunk: flags.prefillChunk ?? serveConfig.prefillChunk,
          maxSequences: concurrency,
        },
      });
      const engine = createNativeEngine(backend, { baseName, adapters: adapters.map((adapter) => adapter.name) });
      const matcher = flags.matcher ? await loadMatcherSelector(flags.matcher) : undefined;
      const server = await startServer({
        engine,
        host: pick(flags.host, serveConfig.host, "127.0.0.1"),
        port: pick(flags.port, serveConfig.port, 8000),
        apiKey: flags.apiKey ?? serveConfig.apiKey ?? process.env.PILLOW_API_KEY,
        maxTokens: pick(flags.maxTokens, serveConfig.maxTokens, 2048),
        maxBodyBytes: pick(flags.maxBody, serveConfig.maxBodyBytes, 1024 * 1024),
        concurrency,
        queueCapacity: pick(flags.queue, serveConfig.queue, 256),
        demoSelector: matcher?.selector,
        formatDemos: matcher?.formatDemos,
        log: context.quiet ? undefined : (line) => process.stderr.write(`${line}\n`),
      });
      const budget = (backend.batcher.kvCacheBytes / 2 ** 20).toFixed(0);
      process.stderr.write(
        `pillow serve: ${server.url}/v1 · models ${engine.models().join(", ")} · KV cache ${budget} MiB${matcher ? " · PILLOW matcher on" : ""}\n`,
      );
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.stderr.write("pillow serve: shutting down (finishing running requests)\n");
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          void server.close(10_000).then(resolve);
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
    });
}
