// The typed errors a caller branches on: each case builds the real bad input (a bundle folder with a
// file removed or rewritten, a malformed pool line, an endpoint answering 429) and checks the class,
// the code and the file named, not only the text.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CheckpointError, DataError, writeSafetensors } from "@pillow/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadMatcherBundle, readBundleManifest, saveMatcherBundle } from "./bundle.js";
import { CandidateFeatureSpace } from "./candidate-features.js";
import { createEmbedder } from "./create-embedder.js";
import { CachedEmbedder } from "./embedder.js";
import { MatcherError } from "./errors.js";
import { MatchingNetwork } from "./matching-network.js";
import { PromptPool } from "./pool.js";

const entries = [
  { id: "sum", instruction: "Add the two numbers", input: "2 3", output: "5" },
  { id: "capital", instruction: "Name the capital of the country", input: "France", output: "Paris" },
  { id: "translate", instruction: "Translate the sentence to French", input: "Good morning", output: "Bonjour" },
];

/** Awaits `action` and returns what it threw (failing the test when it did not throw). */
async function thrown(action: () => unknown): Promise<unknown> {
  try {
    await action();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

describe("MatcherError on bundle folders", () => {
  let directory: string;
  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), "matcher-errors-"));
    const embedder = createEmbedder({ kind: "tfidf", corpus: entries.map((entry) => entry.instruction) });
    const pool = new PromptPool(entries);
    await pool.embed(embedder);
    const matcher = new MatchingNetwork({ embedDim: pool.embeddings[0].length, hidden: 4, steps: 2, seed: 1 });
    await saveMatcherBundle(directory, { matcher, pool, embedder });
  });
  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it("a folder that is not a bundle: E_BUNDLE_FILE naming the folder", async () => {
    const empty = join(directory, "not-a-bundle");
    const error = await thrown(() => loadMatcherBundle(empty));
    expect(error).toBeInstanceOf(MatcherError);
    expect(error).toMatchObject({ code: "E_BUNDLE_FILE", file: empty, name: "MatcherError" });
    expect((error as Error).message.startsWith(`${empty}: not a matcher bundle`)).toBe(true);
  });

  it("a truncated bundle (a part missing beside the manifest): E_BUNDLE_FILE naming the part", async () => {
    await rm(join(directory, "pool.jsonl"));
    const error = await thrown(() => loadMatcherBundle(directory));
    expect(error).toBeInstanceOf(MatcherError);
    expect(error).toMatchObject({ code: "E_BUNDLE_FILE", file: directory });
    expect((error as Error).message).toMatch(/has no pool\.jsonl/);
  });

  it("a foreign format, another version, bad JSON and a bad k: each its code, file and field", async () => {
    const manifestPath = join(directory, "pillow-matcher.json");
    const manifest = JSON.parse(await readFile(manifestPath, "utf8"));
    await writeFile(manifestPath, JSON.stringify({ ...manifest, version: 99 }));
    expect(await thrown(() => readBundleManifest(directory))).toMatchObject({
      code: "E_BUNDLE_VERSION",
      file: manifestPath,
      field: "version",
    });
    await writeFile(manifestPath, JSON.stringify({ ...manifest, format: "someone-elses-bundle" }));
    expect(await thrown(() => loadMatcherBundle(directory))).toMatchObject({
      code: "E_BUNDLE_FORMAT",
      field: "format",
    });
    await writeFile(manifestPath, "{ truncated");
    expect(await thrown(() => loadMatcherBundle(directory))).toMatchObject({
      code: "E_BUNDLE_JSON",
      file: manifestPath,
    });
    await writeFile(manifestPath, JSON.stringify({ ...manifest, k: 0 }));
    expect(await thrown(() => loadMatcherBundle(directory))).toMatchObject({ code: "E_BUNDLE_FIELD", field: "k" });
    // Parts that disagree: the manifest's k against the network's steps (2).
    await writeFile(manifestPath, JSON.stringify({ ...manifest, k: 3 }));
    const mismatch = await thrown(() => loadMatcherBundle(directory));
    expect(mismatch).toBeInstanceOf(MatcherError);
    expect(mismatch).toMatchObject({ code: "E_BUNDLE_MISMATCH", field: "k" });
  });

  it("the network's own config.json: an old version and a bad field are typed too", async () => {
    const configPath = join(directory, "config.json");
    const config = JSON.parse(await readFile(configPath, "utf8"));
    await writeFile(configPath, JSON.stringify({ ...config, version: 1 }));
    expect(await thrown(() => MatchingNetwork.load(directory))).toMatchObject({
      code: "E_BUNDLE_VERSION",
      file: configPath,
    });
    await writeFile(configPath, JSON.stringify({ ...config, hidden: -4 }));
    const field = await thrown(() => MatchingNetwork.load(directory));
    expect(field).toBeInstanceOf(MatcherError);
    expect(field).toMatchObject({ code: "E_BUNDLE_FIELD", file: configPath });
    expect((field as Error).message).toMatch(/hidden must be a positive integer, got -4/);
    expect((field as Error).cause).toBeInstanceOf(RangeError);
    await writeFile(configPath, JSON.stringify({ ...config, features: { length: 1 } }));
    expect(await thrown(() => MatchingNetwork.load(directory))).toMatchObject({
      code: "E_UNKNOWN_NAME",
      file: configPath,
      field: "features.length",
    });
  });

  it("weights without a tensor the config names: core's CheckpointError E_MISSING_TENSOR", async () => {
    const weightsPath = join(directory, "model.safetensors");
    writeSafetensors(weightsPath, { unrelated: { dtype: "F64", shape: [1], data: new Float64Array(1) } });
    const error = await thrown(() => MatchingNetwork.load(directory));
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error).toMatchObject({ code: "E_MISSING_TENSOR", file: weightsPath });
  });

  it("an LLM bundle loaded without a backend: E_NEEDS_BACKEND; an unknown embedder kind: E_BUNDLE_FIELD", async () => {
    const specPath = join(directory, "embedder.json");
    await writeFile(specPath, '{"kind":"llm","backend":"native:tiny"}');
    expect(await thrown(() => loadMatcherBundle(directory))).toMatchObject({ code: "E_NEEDS_BACKEND", file: specPath });
    await writeFile(specPath, '{"kind":"word2vec"}');
    expect(await thrown(() => loadMatcherBundle(directory))).toMatchObject({
      code: "E_BUNDLE_FIELD",
      file: specPath,
      field: "kind",
    });
    await writeFile(specPath, '{"kind":"tfidf","state":{"vocabulary":["a"],"inverseDocumentFrequency":[]}}');
    expect(await thrown(() => loadMatcherBundle(directory))).toMatchObject({
      code: "E_BUNDLE_FIELD",
      file: specPath,
      field: "state",
    });
  });
});

describe("typed errors outside bundles", () => {
  it("a bad pool line is core's DataError with the file and line", () => {
    const text = '{"instruction":"a","output":"b"}\n{"instruction":"c","output":7}\n';
    let error: unknown;
    try {
      PromptPool.parseJsonl(text, "pool.jsonl");
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(DataError);
    expect(error).toMatchObject({ code: "E_FIELD", file: "pool.jsonl", line: 2 });
    expect(() => PromptPool.parseJsonl("{oops\n", "pool.jsonl")).toThrow(
      expect.objectContaining({ code: "E_JSON", line: 1 }),
    );
    expect(() => PromptPool.parseJsonl("\n", "pool.jsonl")).toThrow(expect.objectContaining({ code: "E_EMPTY" }));
  });

  it("unknown names are E_UNKNOWN_NAME; argument checks are RangeError/TypeError", () => {
    expect(() => createEmbedder({ kind: "bert" } as never)).toThrow(MatcherError);
    expect(() => createEmbedder({ kind: "bert" } as never)).toThrow(
      expect.objectContaining({ code: "E_UNKNOWN_NAME", field: "kind" }),
    );
    expect(() => new CandidateFeatureSpace({ entries }, ["length" as never])).toThrow(
      expect.objectContaining({ code: "E_UNKNOWN_NAME" }),
    );
    expect(() => new MatchingNetwork({ embedDim: 0 })).toThrow(RangeError);
    expect(() => createEmbedder(null as never)).toThrow(TypeError);
  });

  it("an embedder that returns a wrong count, and an endpoint answering 429", async () => {
    const short = new CachedEmbedder("short", async () => [Float32Array.of(1)]);
    expect(await thrown(() => short.embed(["a", "b"]))).toMatchObject({ code: "E_EMBEDDER_OUTPUT" });
    const fetch429 = (async () => new Response('{"error":"rate limited"}', { status: 429 })) as typeof fetch;
    const remote = createEmbedder({
      kind: "openai",
      model: "m",
      baseUrl: "http://127.0.0.1:9/v1",
      apiKey: "k",
      fetch: fetch429,
    });
    const error = await thrown(() => remote.embed(["x"]));
    expect(error).toBeInstanceOf(MatcherError);
    expect(error).toMatchObject({ code: "E_EMBEDDING_SERVICE", status: 429 });
    expect((error as Error).message).toMatch(/answered HTTP 429/);
  });
});
