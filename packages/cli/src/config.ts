// `pillow.config.json`: defaults for every command, validated with zod (unknown keys are errors, so a
// typo never silently does nothing). Command-line flags override the file; the file overrides the
// built-in defaults. Found in the working directory, or given with --config FILE.
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { inputError, usageError } from "./cli-error.js";

export const CONFIG_FILE = "pillow.config.json";

const positiveInt = z.number().int().positive();

const backendSchema = z.strictObject({
  kind: z.enum(["native", "openai"]).optional(),
  endpoints: z.array(z.url()).min(1).optional(),
  model: z.string().min(1).optional(),
  apiKey: z.string().min(1).optional(),
  timeoutMs: positiveInt.optional(),
  retries: z.number().int().min(0).optional(),
  completionPath: z.enum(["completions", "chat"]).optional(),
});

export const configSchema = z.strictObject({
  $schema: z.string().optional(),
  /** Base model directory (HF layout). */
  model: z.string().min(1).optional(),
  threads: positiveInt.optional(),
  seed: z.number().int().optional(),
  backend: backendSchema.optional(),
  lora: z
    .strictObject({
      r: positiveInt.optional(),
      alpha: z.number().positive().optional(),
      dropout: z.number().min(0).lt(1).optional(),
      targetModules: z.array(z.string().min(1)).min(1).optional(),
      rslora: z.boolean().optional(),
    })
    .optional(),
  train: z
    .strictObject({
      epochs: positiveInt.optional(),
      steps: positiveInt.optional(),
      learningRate: z.number().positive().optional(),
      batchSize: positiveInt.optional(),
      gradientAccumulation: positiveInt.optional(),
      warmupSteps: z.number().int().min(0).optional(),
      maxGradNorm: z.number().positive().optional(),
      weightDecay: z.number().min(0).optional(),
      maxSequenceLength: positiveInt.optional(),
    })
    .optional(),
  generate: z
    .strictObject({
      maxNewTokens: positiveInt.optional(),
      temperature: z.number().min(0).optional(),
      topK: z.number().int().min(0).optional(),
      topP: z.number().gt(0).max(1).optional(),
      minP: z.number().min(0).max(1).optional(),
    })
    .optional(),
  continual: z
    .strictObject({
      replay: z.enum(["none", "random", "uniform", "inscl-dynamic", "inscl", "interference"]).optional(),
      replayPerTask: z.number().int().min(0).optional(),
    })
    .optional(),
  match: z
    .strictObject({
      demos: z.number().int().min(0).max(16).optional(),
      epochs: positiveInt.optional(),
      samples: positiveInt.optional(),
      embedder: z.enum(["llm", "tfidf", "openai"]).optional(),
    })
    .optional(),
  serve: z
    .strictObject({
      host: z.string().min(1).optional(),
      port: z.number().int().min(0).max(65535).optional(),
      apiKey: z.string().min(1).optional(),
      maxTokens: positiveInt.optional(),
      maxBodyBytes: positiveInt.optional(),
      concurrency: positiveInt.optional(),
      queue: z.number().int().min(0).optional(),
      kvCacheMb: positiveInt.optional(),
      prefillChunk: positiveInt.optional(),
    })
    .optional(),
  report: z.strictObject({ out: z.string().min(1).optional() }).optional(),
});

export type PillowConfig = z.infer<typeof configSchema>;

export type LoadedConfig = { config: PillowConfig; file?: string };

/** Reads and validates the config; no file (when none was asked for) is an empty config. */
export function loadConfig(explicit?: string, cwd = process.cwd()): LoadedConfig {
  const file = explicit ? path.resolve(cwd, explicit) : path.join(cwd, CONFIG_FILE);
  if (!fs.existsSync(file)) {
    if (explicit) throw usageError(`config file ${file} does not exist`, "check the path given to --config");
    return { config: {} };
  }
  const text = fs.readFileSync(file, "utf8");
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw inputError(
      `${file}: not valid JSON (${message})`,
      "fix the file or remove it; see `pillow --help` for the keys",
    );
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = issue.path.join(".") || "(top level)";
    const detail = issue.code === "unrecognized_keys" ? `unknown key(s) ${issue.keys.join(", ")}` : issue.message;
    throw inputError(
      `${file}: ${key}: ${detail}`,
      `valid top-level keys: ${Object.keys(configSchema.shape)
        .filter((name) => name !== "$schema")
        .join(", ")}`,
    );
  }
  return { config: parsed.data, file };
}

/** The first defined value: flag, then config, then default. */
export function pick<T>(flag: T | undefined, fromConfig: T | undefined, fallback: T): T {
  return flag !== undefined ? flag : fromConfig !== undefined ? fromConfig : fallback;
}
