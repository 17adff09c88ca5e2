// A matcher bundle (@pillow/matcher's one folder format) as `serve --matcher` and `generate --matcher`
// use it: a demonstration selector over the bundle's pool and the suite's demonstration layout.
import path from "node:path";
import { type LoadedMatcherBundle, loadMatcherBundle, matcherSelector } from "@pillow/matcher";
import { inputError } from "../cli-error.js";
import { type DemoFormatter, demoFormatter } from "../server/demos.js";
import type { Demo, DemoSelector } from "../server/engine.js";

/** The suite's demonstration layout (compact), then the query as the client sent it. */
export const suiteDemoFormatter: DemoFormatter = demoFormatter("compact");

/** Loads a bundle; its errors (not a bundle, old version, bad file) become input errors. */
export async function openMatcherBundle(directory: string): Promise<LoadedMatcherBundle> {
  try {
    return await loadMatcherBundle(directory);
  } catch (error) {
    throw inputError(
      (error as Error).message,
      "pass a folder written by `pillow match train`, `pillow match compare --save` or `pillow demo` (<report>/matcher)",
    );
  }
}

export async function loadMatcherSelector(
  directory: string,
): Promise<{ selector: DemoSelector; formatDemos: DemoFormatter; bundle: LoadedMatcherBundle }> {
  const bundle = await openMatcherBundle(directory);
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
