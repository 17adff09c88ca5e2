import fs from "node:fs";
import path from "node:path";
import { createOpenAIBackend, type GenerationBackend, NativeBackend, readInstructionFile } from "@pillow/core";
import {
  bm25Selector,
  createEmbedder,
  knnSelector,
  MatchingNetwork,
  matcherSelector,
  noneSelector,
  PromptPool,
  randomSelector,
  saveMatcherBundle,
} from "@pillow/matcher";
import { evaluateSelectors, trainMatcher } from "@pillow/rl";
import { formatPrompt, promptStopStrings } from "@pillow/suite";
import type { Command } from "commander";
import { inputError, usageError } from "../cli-error.js";
import { type CommandContext, commandContext, parseInteger, parseNumber } from "../context.js";
import { comparisonJson, comparisonTables } from "../matching/comparison-report.js";
import { openMatcherBundle } from "../matching/matcher-demos.js";
import { compareOnSetup, fileMatchingSetup, type MatchingSetup } from "../matching/matching-setup.js";
import {
  defaultPillowSettings,
  type PillowSettings,
  parseFeatures,
  parseReward,
  parseSeeds,
  parseWarmStart,
} from "../matching/pillow-settings.js";
import { defaultSuiteSizes, suiteMatchingSetup } from "../matching/suite-comparison.js";
import { openModel, parseAdapterSpec } from "../model-options.js";
import { writeFileAtomic } from "../report/write-report.js";
import { createProgress } from "../progress.js";

type CompareFlags = BackendFlags & {
  suite?: boolean;
  pool?: string;
  train?: string;
  validation?: string;
  test?: string;
  seeds: string;
  reward: string;
  features: string;
  warmStart: string;
  warmStartEpochs: number;
  teacherReward: string;
  teacherPrefixes?: boolean;
  stop?: boolean;
  k: number;
  steps: number;
  samples: number;
  queriesPerStep: number;
  lr: number;
  entropy: number;
  hidden: number;
  validationEvery: number;
  maxTokens: number;
  suiteTunePerTask: number;
  suitePoolPerTask: number;
  suiteTrainPerTask: number;
  suiteValidationPerTask: number;
  suiteTestPerTask: number;
  suiteTuneEpochs: number;
  save?: string;
  json?: string;
};

type BackendFlags = {
  model?: string;
  adapter?: string;
  backend?: string;
  endpoint?: string;
  servedModel?: string;
  apiKey?: string;
};

async function backendFor(flags: BackendFlags, context: CommandContext): Promise<GenerationBackend> {
  const kind = flags.backend ?? context.config.backend?.kind ?? "native";
  if (kind === "openai") {
    const endpoints = flags.endpoint?.split(",").filter(Boolean) ?? context.config.backend?.endpoints;
    const served = flags.servedModel ?? context.config.backend?.model;
    if (!endpoints?.length || !served)
      throw usageError("the openai backend needs --endpoint URL[,URL…] and --served-model NAME");
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
      if (example.format !== "alpaca")
        throw inputError(`${example.file}:${example.line}: matching needs instruction/input/output records`);
      return { query: example.instruction, input: example.input || undefined, reference: example.output };
    }),
  );
}

const template = (
  demos: readonly { instruction: string; input?: string; output: string }[],
  query: string,
  input?: string,
) =>
  formatPrompt({
    instruction: query,
    input,
    demos: demos.map((demo) => ({ instruction: demo.instruction, input: demo.input ?? "", output: demo.output })),
  });

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
    .addHelpText(
      "after",
      "\nExamples:\n  pillow match train --model tiny --adapter runs/cl/adapter --data train.jsonl --pool pool.jsonl --out matcher\n  pillow match train --backend openai --endpoint http://a:8000,http://b:8000 --served-model tiny:cl --data q.jsonl --pool pool.jsonl --out matcher",
    )
    .action(
      async (
        flags: BackendFlags & {
          data: string[];
          pool: string;
          out: string;
          k: number;
          steps: number;
          samples: number;
          seed: number;
          maxTokens: number;
          json?: boolean;
        },
        command: Command,
      ) => {
        const context = commandContext(command, { json: flags.json });
        const pool = await PromptPool.fromJsonl(flags.pool);
        const embedder = createEmbedder({ kind: "tfidf", corpus: pool.texts() });
        await pool.embed(embedder);
        const backend = await backendFor(flags, context);
        const matcher = new MatchingNetwork({
          embedDim: pool.embeddings[0].length,
          hidden: 64,
          steps: flags.k,
          seed: flags.seed,
        });
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
        await saveMatcherBundle(
          flags.out,
          { matcher, pool, embedder },
          { adapter: flags.adapter ?? flags.servedModel, template: "suite" },
        );
        const rewards = history.steps.map((step) => step.meanReward);
        if (flags.json)
          console.log(
            JSON.stringify(
              {
                matcher: path.resolve(flags.out),
                rewards,
                llmCalls: history.llmCalls,
                cacheHits: history.cacheHits,
                seconds: history.seconds,
              },
              null,
              2,
            ),
          );
        else
          context.log(
            `matcher written to ${flags.out}: reward ${rewards[0]?.toFixed(3)} → ${rewards.at(-1)?.toFixed(3)} over ${rewards.length} steps`,
          );
      },
    );

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
    .addHelpText(
      "after",
      "\nExamples:\n  pillow match eval --model tiny --adapter pillow-report/adapters/inscl --matcher pillow-report/matcher --data test.jsonl",
    )
    .action(
      async (
        flags: BackendFlags & { matcher: string; data: string[]; seed: number; maxTokens: number; json?: boolean },
        command: Command,
      ) => {
        const context = commandContext(command, { json: flags.json });
        const { matcher, pool, embedder, manifest } = await openMatcherBundle(flags.matcher);
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
        const results = Object.fromEntries(
          evaluations.map((evaluation) => [
            evaluation.selector,
            {
              rougeL: evaluation.meanReward * 100,
              standardError: evaluation.standardError * 100,
              meanDemos: evaluation.meanDemos,
            },
          ]),
        );
        if (flags.json) console.log(JSON.stringify(results, null, 2));
        else
          for (const [name, result] of Object.entries(results))
            console.log(
              `${name.padEnd(8)} ROUGE-L ${result.rougeL.toFixed(1)} ± ${result.standardError.toFixed(1)} (${result.meanDemos.toFixed(1)} demos)`,
            );
      },
    );

  addBackendOptions(
    match
      .command("compare")
      .description(
        "does PILLOW help on this data? trains a matcher per seed and compares it with none / random / bm25 / knn, with paired 95 % intervals",
      )
      .option("--suite", "the built-in suite with the shipped tiny model (LoRA-tuned first unless --adapter)")
      .option("--pool <file>", "prompt pool JSONL {id?, instruction, input?, output}")
      .option("--train <file>", "training queries (Alpaca JSONL/JSON)")
      .option(
        "--validation <file>",
        "validation queries: the warm-start teacher and the kept checkpoint are chosen on them",
      )
      .option("--test <file>", "test queries, scored by every selector"),
  )
    .option("--seeds <list>", "comma-separated seeds, one matcher each (default 0,1,2)", "0,1,2")
    .option("--reward <name>", "training reward: loglik (dense, no generation) or rougeL", defaultPillowSettings.reward)
    .option(
      "--features <list>",
      `candidate features in the score (${defaultPillowSettings.features.join(",")} or none)`,
      defaultPillowSettings.features.join(","),
    )
    .option(
      "--warm-start <teacher>",
      "imitation warm start: best-per-instruction, best-per-query, best-baseline, bm25, knn or off",
      defaultPillowSettings.warmStart,
    )
    .option(
      "--warm-start-epochs <n>",
      "warm-start passes over the training queries",
      parseInteger("--warm-start-epochs", 0),
      defaultPillowSettings.warmStartEpochs,
    )
    .option(
      "--teacher-reward <name>",
      "reward deciding the per-query / per-instruction teacher: rougeL or loglik",
      defaultPillowSettings.teacherReward,
    )
    .option(
      "--no-teacher-prefixes",
      "the per-query / per-instruction teacher weighs only none and the full k of bm25 / knn, not their first 1 … k−1 choices",
    )
    .option("--no-stop", "no STOP action: always k demonstrations")
    .option("--k <n>", "demonstrations per query (default 3)", parseInteger("--k", 1), 3)
    .option("--steps <n>", "policy-gradient steps per seed", parseInteger("--steps", 0), defaultPillowSettings.steps)
    .option(
      "--samples <n>",
      "selections sampled per query",
      parseInteger("--samples", 2),
      defaultPillowSettings.samplesPerQuery,
    )
    .option(
      "--queries-per-step <n>",
      "training queries per step",
      parseInteger("--queries-per-step", 1),
      defaultPillowSettings.queriesPerStep,
    )
    .option("--lr <x>", "Adam learning rate of the RL phase", parseNumber("--lr", 0), defaultPillowSettings.lr)
    .option("--entropy <x>", "entropy bonus", parseNumber("--entropy", 0), defaultPillowSettings.entropy)
    .option("--hidden <n>", "matching-network width", parseInteger("--hidden", 1), defaultPillowSettings.hidden)
    .option(
      "--validation-every <n>",
      "score the matcher on validation every n RL steps and keep the best (0: never)",
      parseInteger("--validation-every", 0),
      defaultPillowSettings.validationEvery,
    )
    .option("--max-tokens <n>", "tokens per answer", parseInteger("--max-tokens", 1), 32)
    .option(
      "--suite-tune-per-task <n>",
      "--suite: LoRA-tuning-only instances per task (never queries)",
      parseInteger("--suite-tune-per-task", 0),
      defaultSuiteSizes.tunePerTask,
    )
    .option(
      "--suite-pool-per-task <n>",
      "--suite: pool entries per task",
      parseInteger("--suite-pool-per-task", 1),
      defaultSuiteSizes.poolPerTask,
    )
    .option(
      "--suite-train-per-task <n>",
      "--suite: training queries per task",
      parseInteger("--suite-train-per-task", 1),
      defaultSuiteSizes.trainPerTask,
    )
    .option(
      "--suite-validation-per-task <n>",
      "--suite: validation queries per task",
      parseInteger("--suite-validation-per-task", 0),
      defaultSuiteSizes.validationPerTask,
    )
    .option(
      "--suite-test-per-task <n>",
      "--suite: test queries per task",
      parseInteger("--suite-test-per-task", 1),
      defaultSuiteSizes.testPerTask,
    )
    .option(
      "--suite-tune-epochs <n>",
      "--suite: LoRA-tuning epochs before matching (0: the bare tiny model)",
      parseInteger("--suite-tune-epochs", 0),
      defaultSuiteSizes.tuneEpochs,
    )
    .option("--save <dir>", "write the first seed's matcher as a bundle (for serve/generate --matcher)")
    .option("--json <file>", "write every number as JSON (- for stdout)")
    .addHelpText(
      "after",
      "\nExamples:\n  pillow match compare --suite --seeds 0,1,2 --json compare.json\n  pillow match compare --pool pool.jsonl --train q.jsonl --validation v.jsonl --test t.jsonl --model tiny --adapter runs/lora\n  pillow match compare --pool pool.jsonl --train q.jsonl --test t.jsonl --backend openai --endpoint http://a:8000 --served-model base:lora --reward rougeL",
    )
    .action(async (flags: CompareFlags, command: Command) => {
      const context = commandContext(command, { json: flags.json });
      const seeds = parseSeeds(flags.seeds);
      const settings: PillowSettings = {
        reward: parseReward(flags.reward),
        features: parseFeatures(flags.features),
        warmStart: parseWarmStart(flags.warmStart),
        warmStartEpochs: flags.warmStartEpochs,
        teacherReward: parseReward(flags.teacherReward),
        teacherPrefixes: flags.teacherPrefixes !== false,
        allowStop: flags.stop !== false,
        steps: flags.steps,
        samplesPerQuery: flags.samples,
        queriesPerStep: flags.queriesPerStep,
        lr: flags.lr,
        entropy: flags.entropy,
        hidden: flags.hidden,
        validationEvery: flags.validationEvery,
      };
      let setup: MatchingSetup;
      if (flags.suite) {
        if (flags.pool || flags.train || flags.test || flags.validation)
          throw usageError(
            "--suite brings its own pool and queries",
            "drop --pool/--train/--validation/--test, or drop --suite",
          );
        if (flags.backend && flags.backend !== "native")
          throw usageError("--suite runs the shipped tiny model in-process", "drop --backend");
        setup = await suiteMatchingSetup(
          {
            tunePerTask: flags.suiteTunePerTask,
            poolPerTask: flags.suitePoolPerTask,
            trainPerTask: flags.suiteTrainPerTask,
            validationPerTask: flags.suiteValidationPerTask,
            testPerTask: flags.suiteTestPerTask,
            tuneEpochs: flags.suiteTuneEpochs,
          },
          {
            model: flags.model,
            adapter: flags.adapter ? parseAdapterSpec(flags.adapter).directory : undefined,
            maxNewTokens: flags.maxTokens,
            log: context.log,
          },
        );
      } else {
        if (!flags.pool || !flags.train || !flags.test)
          throw usageError("match compare needs --pool, --train and --test (or --suite)");
        for (const [flag, file] of [
          ["--pool", flags.pool],
          ["--train", flags.train],
          ["--test", flags.test],
          ["--validation", flags.validation],
        ] as const) {
          if (file && !fs.existsSync(file)) throw inputError(`${flag} ${file}: no such file`);
        }
        setup = await fileMatchingSetup({
          pool: flags.pool,
          train: flags.train,
          validation: flags.validation,
          test: flags.test,
          k: flags.k,
          openBackend: () => backendFor(flags, context),
          adapter: flags.adapter ?? flags.servedModel,
          maxNewTokens: flags.maxTokens,
        });
      }
      if (setup.pool.size < flags.k)
        throw inputError(`the pool has ${setup.pool.size} entries, fewer than k = ${flags.k}`);
      if (settings.reward === "loglik" && typeof setup.backend.score !== "function") {
        throw usageError(
          `the ${setup.backend.name} backend cannot score continuations, which --reward loglik needs`,
          "use --reward rougeL with this backend",
        );
      }
      context.log(
        `pillow match compare: ${setup.description}; seeds ${seeds.join(",")}; reward ${settings.reward}, features ${settings.features.join(",") || "none"}, warm start ${settings.warmStart}, STOP ${settings.allowStop ? "on" : "off"}`,
      );
      const progress = createProgress("match compare", seeds.length * settings.steps, context.progress);
      let result: Awaited<ReturnType<typeof compareOnSetup>>;
      try {
        result = await compareOnSetup(setup, settings, {
          k: flags.k,
          seeds,
          onStep: (record) => progress.tick(1, `reward ${record.meanReward.toFixed(3)}`),
          onPhase: (message) => {
            if (context.progress !== "bar") context.log(message);
          },
          onSeed: (seed, evaluations) => {
            if (context.progress !== "bar")
              context.log(
                `seed ${seed}: ${evaluations.map((entry) => `${entry.selector} ${(100 * entry.meanReward).toFixed(1)}`).join(", ")}`,
              );
          },
        });
      } finally {
        progress.stop();
      }
      if (flags.save) {
        await saveMatcherBundle(
          flags.save,
          { matcher: result.perSeed[0].matcher, pool: setup.pool, embedder: setup.embedder },
          { adapter: setup.adapter, template: "suite" },
        );
        context.log(`saved the seed-${result.perSeed[0].seed} matcher to ${flags.save}`);
      }
      const json = { setup: setup.description, seeds, k: flags.k, settings, ...comparisonJson(result) };
      if (flags.json === "-") console.log(JSON.stringify(json, null, 2));
      else {
        if (flags.json) writeFileAtomic(path.resolve(flags.json), `${JSON.stringify(json, null, 2)}\n`);
        if (!context.quiet) console.log(comparisonTables(result));
      }
    });
}
