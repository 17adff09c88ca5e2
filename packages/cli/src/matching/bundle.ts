// A matcher folder: the trained MatchingNetwork (config.json + model.safetensors), the prompt pool it
// chooses from (pool.jsonl) and how to embed queries (pillow-matcher.json). Written by `pillow demo`
// and `pillow match train`; read by `pillow serve --matcher`, `generate --matcher` and `match eval`.
import fs from "node:fs";
import path from "node:path";
import { createEmbedder, type Embedder, MatchingNetwork, matcherSelector, PromptPool } from "@pillow/matcher";
import { formatDemonstration } from "@pillow/suite";
import { inputError } from "../cli-error.js";
import { writeFileAtomic } from "../report/write-report.js";
import type { DemoFormatter } from "../server/demos.js";
import type { Demo, DemoSelector } from "../server/engine.js";

export const BUNDLE_FILE = "pillow-matcher.json";

export type BundleManifest = {
  format: "pillow-matcher-bundle";
  version: 1;
  /** tfidf is rebuilt from the pool's texts, so the folder is self-contained. */
  embedder: { kind: "tfidf" };
  k: number;
  adapter?: string;
  template: "suite";
};

export async function saveMatcherBundle(directory: string, matcher: MatchingNetwork, pool: PromptPool, manifest: Omit<BundleManifest, "format" | "version">): Promise<void> {
  await matcher.save(directory);
  writeFileAtomic(path.join(directory, "pool.jsonl"), `${pool.entries.map((entry) => JSON.stringify(entry)).join("\n")}\n`);
  writeFileAtomic(path.join(directory, BUNDLE_FILE), `${JSON.stringify({ format: "pillow-matcher-bundle", version: 1, ...manifest }, null, 2)}\n`);
}

export type LoadedBundle = { matcher: MatchingNetwork; pool: PromptPool; embedder: Embedder; manifest: BundleManifest };

export async function loadMatcherBundle(directory: string): Promise<LoadedBundle> {
  const manifestFile = path.join(directory, BUNDLE_FILE);
  if (!fs.existsSync(manifestFile)) {
    throw inputError(`no ${BUNDLE_FILE} in ${directory}`, "pass a folder written by `pillow match train` or `pillow demo` (<report>/matcher)");
  }
  const manifest = JSON.parse(fs.readFileSync(manifestFile, "utf8")) as BundleManifest;
  if (manifest.format !== "pillow-matcher-bundle" || manifest.embedder?.kind !== "tfidf") {
    throw inputError(`${manifestFile}: not a pillow matcher bundle (format/embedder)`, "re-create it with `pillow match train`");
  }
  const pool = await PromptPool.fromJsonl(path.join(directory, "pool.jsonl"));
  const embedder = createEmbedder({ kind: "tfidf", corpus: pool.texts() });
  await pool.embed(embedder);
  const matcher = await MatchingNetwork.load(directory);
  return { matcher, pool, embedder, manifest };
}

/** The suite's demonstration layout, then the query as the client sent it. */
export const suiteDemoFormatter: DemoFormatter = (demos, query) =>
  `${demos.map((demo) => formatDemonstration({ instruction: demo.instruction, input: demo.input ?? "", output: demo.output })).join("")}${query}`;

export async function loadMatcherSelector(directory: string): Promise<{ selector: DemoSelector; formatDemos: DemoFormatter; bundle: LoadedBundle }> {
  const bundle = await loadMatcherBundle(directory);
  const chooser = matcherSelector({ matcher: bundle.matcher, pool: bundle.pool, embedder: bundle.embedder });
  const selector: DemoSelector = {
    name: `pillow:${path.basename(path.resolve(directory))}`,
    async select(query, count) {
      const ids = await chooser.select({ text: query });
      return ids.slice(0, count ?? bundle.manifest.k).map((index): Demo => {
        const entry = bundle.pool.get(index);
        return { id: entry.id, instruction: entry.instruction, input: entry.input, output: entry.output };
      });
    },
  };
  return { selector, formatDemos: suiteDemoFormatter, bundle };
}
