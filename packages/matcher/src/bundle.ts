// A trained matcher bundle: everything `pillow serve --matcher DIR` or `pillow generate --matcher DIR`
// needs to pick demonstrations again — the network (model.safetensors + config.json), the prompt
// pool (pool.jsonl) and how to rebuild the frozen embedder (embedder.json; a TF-IDF embedder keeps
// its fitted vocabulary, an LLM or OpenAI one its settings, never an API key).

import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { GenerationBackend } from "@pillow/core";
import { createEmbedder } from "./create-embedder.js";
import type { Embedder, EmbedderSpec } from "./embedder.js";
import { MatchingNetwork } from "./matching-network.js";
import { PromptPool } from "./pool.js";

export type MatcherBundle = { matcher: MatchingNetwork; pool: PromptPool; embedder: Embedder };

export async function saveMatcherBundle(directory: string, bundle: MatcherBundle): Promise<void> {
  const { matcher, pool, embedder } = bundle;
  if (!embedder?.spec) {
    throw new Error("saveMatcherBundle: the embedder has no spec (make it with createEmbedder so it can be recreated)");
  }
  await matcher.save(directory);
  const lines = pool.entries.map((entry) => JSON.stringify(entry));
  await writeFile(join(directory, "pool.jsonl"), `${lines.join("\n")}\n`);
  await writeFile(join(directory, "embedder.json"), `${JSON.stringify(embedder.spec)}\n`);
}

/**
 * Loads a bundle and re-embeds its pool. An "llm" embedder needs the backend it was made with (its
 * name is checked); an "openai" one takes the API key from options or OPENAI_API_KEY.
 */
export async function loadMatcherBundle(
  directory: string,
  options: { backend?: GenerationBackend; apiKey?: string; fetch?: typeof fetch } = {},
): Promise<MatcherBundle> {
  const matcher = await MatchingNetwork.load(directory);
  const pool = await PromptPool.fromJsonl(join(directory, "pool.jsonl"));
  const specPath = join(directory, "embedder.json");
  let spec: EmbedderSpec;
  try {
    spec = JSON.parse(await readFile(specPath, "utf8"));
  } catch (error) {
    throw new Error(`${specPath}: cannot read the embedder description: ${(error as Error).message}`);
  }
  let embedder: Embedder;
  switch (spec?.kind) {
    case "tfidf":
      embedder = createEmbedder({ kind: "tfidf", state: spec.state });
      break;
    case "llm":
      if (!options.backend) throw new Error(`${specPath}: this matcher embeds with the LLM "${spec.backend}"; pass its backend`);
      embedder = createEmbedder({ kind: "llm", backend: options.backend });
      break;
    case "openai":
      embedder = createEmbedder({ kind: "openai", model: spec.model, baseUrl: spec.baseUrl, apiKey: options.apiKey, fetch: options.fetch });
      break;
    default:
      throw new Error(`${specPath}: unknown embedder kind ${JSON.stringify((spec as { kind?: unknown })?.kind)}`);
  }
  await pool.embed(embedder);
  if (pool.embeddings[0].length !== matcher.config.embedDim) {
    throw new Error(
      `${directory}: the embedder gives ${pool.embeddings[0].length}-dimensional vectors but the matcher expects ${matcher.config.embedDim}`,
    );
  }
  return { matcher, pool, embedder };
}
