import path from "node:path";
import { createOpenAIBackend, type GenerationBackend, NativeBackend, readInstructionFile } from "@pillow/core";
import { bm25Selector, createEmbedder, knnSelector, MatchingNetwork, matcherSelector, noneSelector, PromptPool, randomSelector } from "@pillow/matcher";
import { evaluateSelectors, trainMatcher } from "@pillow/rl";
import { formatPrompt, promptStopStrings } from "@pillow/suite";
import type { Command } from "commander";
import { inputError, usageError } from "../cli-error.js";
import { type CommandContext, commandContext, parseInteger } from "../context.js";
import { loadMatcherBundle, saveMatcherBundle } from "../matching/bundle.js";
import { openModel, parseAdapterSpec } from "../model-options.js";
import { createProgress } from "../progress.js";

type BackendFlags = { model?: string; adapter?: string; backend?: string; endpoint?: string; servedModel?: string; apiKey?: string };

async function backendFor(flags: BackendFlags, context: CommandContext): Promise<GenerationBackend> {
  const kind = flags.backend ?? context.config.backend?.kind ?? "native";
  if (kind === "openai") {
    const endpoints = flags.endpoint?.split(",").filter(Boolean) ?? context.config.backend?.endpoints;
    const served = flags.servedModel ?? context.config.backend?.model;
    if (!endpoints?.length || !served) throw usageError("the openai backend needs --endpoint URL[,URL…] and --served-model NAME");
    return createOpenAIBackend({ endpoints, model: served, apiKey: flags.apiKey ?? context.config.backend?.apiKey });
  }
  if (kind !== "native") throw usageError(`unknown backend "${kind}"`, "use --backend native or --backend openai");
  const model = await openModel(flags.model, context.config);
  const adapter = flags.adapter ? model.loadAdapter(parseAdapterSpec(flags.adapter).directory, "adapter") : null;
  return new NativeBackend(model, { adapter });
}

function queriesFrom(files: string[]) {
  return files.flatMap((file) =>
    readInstructionFile(file).map((example) => {
      if (example.format !== "alpaca") throw inputError(`${example.file}:${example.line}: matching needs instruction/input/output records`);
      return { query: example.instruction, input: example.input || undefined, reference: example.output };
    }),
  );
}

const template = (demos: readonly { instruction: string; input?: string; output: string }[], query: string, input?: string) =>
  formatPrompt({ instruction: query, input, demos: demos.map((demo) => ({ instruction: demo.instruction, input: demo.input ?? "", output: demo.output })) });

function addBackendOptions(command: Command): Command {
  return command
    .option("--model <dir>", "model folder (native backend)")
    .option("--adapter <dir>", "PEFT adapter folder (native backend)")
    .option("--backend <kind>", "native (default) or openai")
    .option("--endpoint <urls>", "openai backend: comma-separated server URLs (balanced)")
    .option("--served-model <name>", "openai backend: model name on the server, e.g. base:adapter")
    .option("--api-key <key>", "openai backend: bearer token");
}

export function registerMatch(program: Command): void {
  const match = program.command("match").description("PILLOW prompt matching: train a matcher, compare selectors");
  addBackendOptions(
    match
      .command("train")
      .description("train the PILLOW matching network by policy gradient (reward: ROUGE-L of the LLM's answers)")
      .requiredOption("--data <files...>", "training queries (Alpaca JSONL/JSON)")
      .requiredOption("--pool <file>", "prompt pool JSONL {id?, instruction, input?, output}")
      .requiredOption("--out <dir>", "matcher folder to write"),
  )
    .option("--k <n>", "demonstrations per query (default 3)", parseInteger("--k", 1), 3)
    .option("--steps <n>", "policy-gradient steps (default 100)", parseInteger("--steps", 1), 100)
    .option("--samples <n>", "selections sampled per query (default 4)", parseInteger("--samples", 2), 4)
    .option("--seed <n>", "seed", parseInteger("--seed"), 0)
    .option("--max-tokens <n>", "tokens per answer", parseInteger("--max-tokens", 1), 32)
    .option("--json", "print the training history as JSON")
    .addHelpText("after", "\nExamples:\n  pillow match train --model tiny --adapter runs/cl/adapter --data train.jsonl --pool pool.jsonl --out matcher\n  pillow match train --backend openai --endpoint http://a:8000,http://b:8000 --served-model tiny:cl --data q.jsonl --pool pool.jsonl --out matcher")
    .action(async (flags: BackendFlags & { data: string[]; pool: string; out: string; k: number; steps: number; samples: number; seed: number; maxTokens: number; json?: boolean }, command: Command) => {
      const context = commandContext(command, { json: flags.json });
      const pool = await PromptPool.fromJsonl(flags.pool);
      const embedder = createEmbedder({ kind: "tfidf", corpus: pool.texts() });
      await pool.embed(embedder);
      const backend = await backendFor(flags, context);
      const matcher = new MatchingNetwork({ embedDim: pool.embeddings[0].length, hidden: 64, steps: flags.k, seed: flags.seed });
      const progress = createProgress("match train", flags.steps, context.progress);
      const history = await trainMatcher({
        matcher,
        pool,
        backend,
        embedder,
        data: queriesFrom(flags.data),
        steps: flags.steps,
        samplesPerQuery: flags.samples,
        seed: flags.seed,
        reward: "rougeL",
        template,
        generation: { maxNewTokens: flags.maxTokens, temperature: 0, stop: promptStopStrings },
        onStep: (record) => progress.tick(1, `reward ${record.meanReward.toFixed(3)}`),
      });
      progress.stop();
      await saveMatcherBundle(flags.out, matcher, pool, { embedder: { kind: "tfidf" }, k: flags.k, adapter: flags.adapter ?? flags.servedModel, template: "suite" });
      const rewards = history.steps.map((step) => step.meanReward);
      if (flags.json) console.log(JSON.stringify({ matcher: path.resolve(flags.out), rewards, llmCalls: history.llmCalls, cacheHits: history.cacheHits, seconds: history.seconds }, null, 2));
      else context.log(`matcher written to ${flags.out}: reward ${rewards[0]?.toFixed(3)} → ${rewards.at(-1)?.toFixed(3)} over ${rewards.length} steps`);
    });

  addBackendOptions(
    match
      .command("eval")
      .description("ROUGE-L of none / random / bm25 / knn / PILLOW demonstrations on held-out queries")
      .requiredOption("--matcher <dir>", "matcher folder (from `pillow match train` or `pillow demo`)")
      .requiredOption("--data <files...>", "held-out queries (Alpaca JSONL/JSON)"),
  )
    .option("--seed <n>", "seed of the random baseline", parseInteger("--seed"), 0)
    .option("--max-tokens <n>", "tokens per answer", parseInteger("--max-tokens", 1), 32)
    .option("--json", "print the results as JSON")
    .addHelpText("after", "\nExamples:\n  pillow match eval --model tiny --adapter pillow-report/adapters/inscl --matcher pillow-report/matcher --data test.jsonl")
    .action(async (flags: BackendFlags & { matcher: string; data: string[]; seed: number; maxTokens: number; json?: boolean }, command: Command) => {
      const context = commandContext(command, { json: flags.json });
      const { matcher, pool, embedder, manifest } = await loadMatcherBundle(flags.matcher);
      const backend = await backendFor(flags, context);
      const k = manifest.k;
      const evaluations = await evaluateSelectors({
        backend,
        pool,
        queries: queriesFrom(flags.data),
        selectors: [
          noneSelector(),
          randomSelector({ pool, k, seed: flags.seed }),
          bm25Selector({ pool, k }),
          knnSelector({ pool, k, embedder }),
          { ...matcherSelector({ matcher, pool, embedder }), name: "pillow" },
        ],
        reward: "rougeL",
        template,
        generation: { maxNewTokens: flags.maxTokens, temperature: 0, stop: promptStopStrings },
      });
      const results = Object.fromEntries(evaluations.map((evaluation) => [evaluation.selector, { rougeL: evaluation.meanReward * 100, standardError: evaluation.standardError * 100, meanDemos: evaluation.meanDemos }]));
      if (flags.json) console.log(JSON.stringify(results, null, 2));
      else for (const [name, result] of Object.entries(results)) console.log(`${name.padEnd(8)} ROUGE-L ${result.rougeL.toFixed(1)} ± ${result.standardError.toFixed(1)} (${result.meanDemos.toFixed(1)} demos)`);
    });
}
