// Exit codes of the typed library errors, thrown by the libraries on real bad input: a bad input
// file or folder exits 3 (input), any other failure 1.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createEmbedder, loadMatcherBundle, PromptPool } from "@pillow/matcher";
import { pretrainTinyModel } from "@pillow/suite";
import { describe, expect, it } from "vitest";
import { EXIT, exitCodeOf, usageError } from "./cli-error.js";

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error,
  );
}

describe("exitCodeOf", () => {
  it("a folder that is not a matcher bundle, a bad pool line, a missing initial model file: input (3)", async () => {
    const directory = await mkdtemp(path.join(tmpdir(), "cli-error-"));
    try {
      const bundle = await rejection(loadMatcherBundle(path.join(directory, "no-bundle")));
      expect(bundle).toMatchObject({ name: "MatcherError", code: "E_BUNDLE_FILE" });
      expect(exitCodeOf(bundle)).toBe(EXIT.input);
      let poolLine: unknown;
      try {
        PromptPool.parseJsonl('{"instruction": 1}\n', "pool.jsonl");
      } catch (error) {
        poolLine = error;
      }
      expect(poolLine).toMatchObject({ name: "DataError", line: 1 });
      expect(exitCodeOf(poolLine)).toBe(EXIT.input);
      const model = await rejection(
        pretrainTinyModel({
          outDir: path.join(directory, "out"),
          steps: 1,
          initialModel: path.join(directory, "none"),
        }),
      );
      expect(model).toMatchObject({ name: "SuiteError", code: "E_MODEL_FILE" });
      expect(exitCodeOf(model)).toBe(EXIT.input);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it("a failing embeddings endpoint or an argument error: failure (1); a usage error keeps its 2", async () => {
    const fetch503 = (async () => new Response("down", { status: 503 })) as typeof fetch;
    const remote = createEmbedder({
      kind: "openai",
      model: "m",
      baseUrl: "http://127.0.0.1:9/v1",
      apiKey: "k",
      fetch: fetch503,
    });
    const service = await rejection(remote.embed(["x"]));
    expect(service).toMatchObject({ name: "MatcherError", code: "E_EMBEDDING_SERVICE" });
    expect(exitCodeOf(service)).toBe(EXIT.failure);
    expect(exitCodeOf(new RangeError("kMeans: k must be a positive integer, got 0"))).toBe(EXIT.failure);
    expect(exitCodeOf(usageError("bad flag"))).toBe(EXIT.usage);
  });
});
