// SuiteError's class and code on real bad input: a WordNet index line cut short, an offset that points
// into the middle of a synset line, a suite asked for more inputs than a task has, an initial model
// folder without its files, a model that answers with too few texts.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseIndexFile, parseSynsetAt } from "./data/wordnet.js";
import { SuiteError } from "./errors.js";
import { answerEvaluationPrompts, buildEvaluationPrompts } from "./evaluation.js";
import { pretrainTinyModel } from "./pretrain.js";
import { buildSuite } from "./suite.js";

function thrown(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

describe("SuiteError", () => {
  it("a malformed WordNet file: E_WORDNET with the file and line", () => {
    // The second entry claims two synsets and lists one.
    const text = "  1 licence header\ncat n 1 1 @ 1 1 00000010  \ndog n 2 1 @ 2 1 00000020  \n";
    const error = thrown(() => parseIndexFile(text, "index.noun"));
    expect(error).toBeInstanceOf(SuiteError);
    expect(error).toMatchObject({ code: "E_WORDNET", file: "index.noun", line: 3, name: "SuiteError" });
    expect((error as Error).message).toBe("index.noun:3: malformed WordNet index line");
    const line = "00000000 05 n 02 cat 0 true_cat(a) 1 001 @ 00000099 n 0102 | a feline  \n";
    expect(thrown(() => parseSynsetAt(Buffer.from(line, "latin1"), 3, "data.noun"))).toMatchObject({
      code: "E_WORDNET",
      file: "data.noun",
    });
    expect(thrown(() => parseSynsetAt(Buffer.from(line, "latin1"), 500, "data.noun"))).toMatchObject({
      code: "E_WORDNET",
    });
  });

  it("more than a task can supply: E_TOO_FEW_INSTANCES naming the task", () => {
    const error = thrown(() => buildSuite({ trainPerTask: 1, testPerTask: 100000 }));
    expect(error).toBeInstanceOf(SuiteError);
    expect(error).toMatchObject({ code: "E_TOO_FEW_INSTANCES", task: "parity" });
    const small = buildSuite({ seed: 0, trainPerTask: 2, testPerTask: 1 });
    const shots = thrown(() => buildEvaluationPrompts(small, { shots: 3 }));
    expect(shots).toMatchObject({ code: "E_TOO_FEW_INSTANCES", task: small.tasks[0].name });
    expect(thrown(() => buildSuite({ trainPerTask: -1 }))).toBeInstanceOf(RangeError);
  });

  it("a model that answers short: E_BACKEND_OUTPUT", async () => {
    const prompts = buildEvaluationPrompts(buildSuite({ seed: 0, trainPerTask: 4, testPerTask: 1 }), { shots: 2 });
    const error = await answerEvaluationPrompts(prompts, async () => ["only one"]).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SuiteError);
    expect(error).toMatchObject({ code: "E_BACKEND_OUTPUT" });
  });

  it("an initial model folder without its files: E_MODEL_FILE naming the file", async () => {
    const directory = await mkdtemp(path.join(tmpdir(), "suite-errors-"));
    try {
      const empty = path.join(directory, "empty-model");
      const error = await pretrainTinyModel({
        outDir: path.join(directory, "out"),
        steps: 1,
        initialModel: empty,
      }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(SuiteError);
      expect(error).toMatchObject({ code: "E_MODEL_FILE", file: path.join(empty, "config.json") });
      expect((error as Error).message).toMatch(/cannot read the initial model's config.json \(ENOENT/);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
