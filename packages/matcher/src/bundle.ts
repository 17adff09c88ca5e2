// The matcher bundle: the one folder format every command reads and writes (`pillow match train`,
// `match compare --save`, `pillow demo`, `serve --matcher`, `generate --matcher`, rl's experiment).
//
//   pillow-matcher.json   manifest: format "pillow-matcher-bundle", version, k, adapter?, template?
//   config.json + model.safetensors   the MatchingNetwork (its own format version inside)
//   pool.jsonl            the prompt pool it chooses from
//   embedder.json         how to recreate the frozen embedder (a TF-IDF embedder keeps its fitted
//                         vocabulary, an LLM or OpenAI one its settings, never an API key)
//
// The manifest is written last, so a folder without one is unfinished, foreign or from before this
// format; loading it fails with a message that says so and what to do.

import { access, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { GenerationBackend } from "@pillow/core";
import { createEmbedder } from "./create-embedder.js";
import type { EmbedderSpec, SavableEmbedder } from "./embedder.js";
import { MatcherError } from "./errors.js";
import { MatchingNetwork } from "./matching-network.js";
import { PromptPool } from "./pool.js";

export const BUNDLE_MANIFEST_FILE = "pillow-matcher.json";
export const BUNDLE_FORMAT = "pillow-matcher-bundle";
export const BUNDLE_VERSION = 2;
/** The files beside the manifest, in the order they are written. */
const BUNDLE_PARTS = ["model.safetensors", "config.json", "pool.jsonl", "embedder.json"] as const;

export type BundleManifest = {
  format: typeof BUNDLE_FORMAT;
  version: typeof BUNDLE_VERSION;
  /** Demonstrations per query (the network's steps). */
  k: number;
  /** The adapter (or served model) the matcher was trained against, for the record. */
  adapter?: string;
  /** The prompt template the matcher was trained with ("suite": @pillow/suite's formatPrompt). */
  template?: string;
};

export type MatcherBundle = { matcher: MatchingNetwork; pool: PromptPool; embedder: SavableEmbedder };
export type LoadedMatcherBundle = MatcherBundle & { manifest: BundleManifest };

export async function saveMatcherBundle(
  directory: string,
  bundle: MatcherBundle,
  manifest: { adapter?: string; template?: string } = {},
): Promise<void> {
  const { matcher, pool, embedder } = bundle;
  if (!embedder?.spec) {
    throw new TypeError(
      "saveMatcherBundle: bundle.embedder has no spec (make it with createEmbedder so it can be recreated)",
    );
  }
  await mkdir(directory, { recursive: true });
  await matcher.save(directory);
  await writeAtomically(
    join(directory, "pool.jsonl"),
    `${pool.entries.map((entry) => JSON.stringify(entry)).join("\n")}\n`,
  );
  await writeAtomically(join(directory, "embedder.json"), `${JSON.stringify(embedder.spec)}\n`);
  const full: BundleManifest = { format: BUNDLE_FORMAT, version: BUNDLE_VERSION, k: matcher.config.steps, ...manifest };
  await writeAtomically(join(directory, BUNDLE_MANIFEST_FILE), `${JSON.stringify(full, null, 2)}\n`);
}

/** Reads and checks the manifest; the error names the file and says what to do. */
export async function readBundleManifest(directory: string): Promise<BundleManifest> {
  const path = join(directory, BUNDLE_MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    throw new MatcherError(
      "E_BUNDLE_FILE",
      `not a matcher bundle (no ${BUNDLE_MANIFEST_FILE}); pass a folder written by \`pillow match train\`, \`pillow match compare --save\` or \`pillow demo\` (<report>/matcher), or train one again`,
      { file: directory },
    );
  }
  let manifest: Record<string, unknown>;
  try {
    manifest = JSON.parse(text);
  } catch (error) {
    throw new MatcherError("E_BUNDLE_JSON", `not valid JSON (${(error as Error).message})`, { file: path });
  }
  if (manifest?.format !== BUNDLE_FORMAT) {
    throw new MatcherError(
      "E_BUNDLE_FORMAT",
      `"format" is ${JSON.stringify(manifest?.format)}, not "${BUNDLE_FORMAT}"`,
      { file: path, field: "format" },
    );
  }
  if (manifest.version !== BUNDLE_VERSION) {
    throw new MatcherError(
      "E_BUNDLE_VERSION",
      `bundle version ${JSON.stringify(manifest.version)}, this pillow reads version ${BUNDLE_VERSION}; train the matcher again with \`pillow match train\``,
      { file: path, field: "version" },
    );
  }
  if (!Number.isInteger(manifest.k) || (manifest.k as number) < 1) {
    throw new MatcherError("E_BUNDLE_FIELD", `"k" must be a positive integer, got ${JSON.stringify(manifest.k)}`, {
      file: path,
      field: "k",
    });
  }
  return manifest as BundleManifest;
}

/**
 * Loads a bundle and re-embeds its pool. An "llm" embedder needs the backend it was made with (its
 * name is checked); an "openai" one takes the API key from options or OPENAI_API_KEY.
 */
export async function loadMatcherBundle(
  directory: string,
  options: { backend?: GenerationBackend; apiKey?: string; fetch?: typeof fetch } = {},
): Promise<LoadedMatcherBundle> {
  const manifest = await readBundleManifest(directory);
  // The manifest is written last, so a part missing beside it means a damaged folder, not a foreign one.
  for (const part of BUNDLE_PARTS) {
    try {
      await access(join(directory, part));
    } catch {
      throw new MatcherError(
        "E_BUNDLE_FILE",
        `the matcher bundle has no ${part} (copied in part?); save or train it again`,
        { file: directory },
      );
    }
  }
  const matcher = await MatchingNetwork.load(directory);
  const pool = await PromptPool.fromJsonl(join(directory, "pool.jsonl"));
  const specPath = join(directory, "embedder.json");
  let specText: string;
  try {
    specText = await readFile(specPath, "utf8");
  } catch (error) {
    throw new MatcherError("E_BUNDLE_FILE", `cannot read the embedder description: ${(error as Error).message}`, {
      file: specPath,
    });
  }
  let spec: EmbedderSpec;
  try {
    spec = JSON.parse(specText);
  } catch (error) {
    throw new MatcherError("E_BUNDLE_JSON", `cannot read the embedder description: ${(error as Error).message}`, {
      file: specPath,
    });
  }
  let embedder: SavableEmbedder;
  switch (spec?.kind) {
    case "tfidf":
      try {
        embedder = createEmbedder({ kind: "tfidf", state: spec.state });
      } catch (error) {
        // createEmbedder checks its arguments; read from the bundle, a bad state is a field of embedder.json.
        throw new MatcherError(
          "E_BUNDLE_FIELD",
          (error as Error).message,
          { file: specPath, field: "state" },
          { cause: error },
        );
      }
      break;
    case "llm":
      if (!options.backend) {
        throw new MatcherError(
          "E_NEEDS_BACKEND",
          `this matcher embeds with the LLM "${spec.backend}"; pass its backend`,
          { file: specPath },
        );
      }
      embedder = createEmbedder({ kind: "llm", backend: options.backend });
      break;
    case "openai":
      embedder = createEmbedder({
        kind: "openai",
        model: spec.model,
        baseUrl: spec.baseUrl,
        apiKey: options.apiKey,
        fetch: options.fetch,
      });
      break;
    default:
      throw new MatcherError(
        "E_BUNDLE_FIELD",
        `unknown embedder kind ${JSON.stringify((spec as { kind?: unknown })?.kind)}`,
        {
          file: specPath,
          field: "kind",
        },
      );
  }
  await pool.embed(embedder);
  if (pool.embeddings[0].length !== matcher.config.embedDim) {
    throw new MatcherError(
      "E_BUNDLE_MISMATCH",
      `the embedder gives ${pool.embeddings[0].length}-dimensional vectors but the matcher expects ${matcher.config.embedDim}`,
      { file: directory },
    );
  }
  if (manifest.k !== matcher.config.steps) {
    throw new MatcherError(
      "E_BUNDLE_MISMATCH",
      `k ${manifest.k} differs from the network's steps ${matcher.config.steps}`,
      {
        file: join(directory, BUNDLE_MANIFEST_FILE),
        field: "k",
      },
    );
  }
  return { matcher, pool, embedder, manifest };
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const temporary = `${path}.tmp-${process.pid}`;
  await writeFile(temporary, text);
  await rename(temporary, path);
}
