// The `pillow` binary as users run it (spawned from dist/): output, --json and exit codes.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { peftTensorName, writeAdapterConfig, writeSafetensors } from "@pillow/core";
import { describe, expect, it } from "vitest";

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "dist", "bin.js");

function pillow(args: string[], cwd?: string) {
  const result = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", cwd, timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const temporary = () => fs.mkdtempSync(path.join(os.tmpdir(), "pillow-cli-"));

const f32 = (shape: number[]) => ({
  dtype: "F32" as const,
  shape,
  data: new Float32Array(shape.reduce((a, b) => a * b, 1)),
});

describe("pillow inspect", () => {
  it("summarises a model folder from its headers", () => {
    const directory = temporary();
    fs.writeFileSync(
      path.join(directory, "config.json"),
      JSON.stringify({
        architectures: ["LlamaForCausalLM"],
        model_type: "llama",
        hidden_size: 8,
        intermediate_size: 16,
        num_hidden_layers: 1,
        num_attention_heads: 2,
        num_key_value_heads: 1,
        vocab_size: 10,
        rms_norm_eps: 1e-5,
        max_position_embeddings: 32,
        tie_word_embeddings: true,
      }),
    );
    writeSafetensors(path.join(directory, "model.safetensors"), {
      "model.embed_tokens.weight": f32([10, 8]),
      "model.layers.0.self_attn.q_proj.weight": f32([8, 8]),
      "model.layers.0.self_attn.k_proj.weight": f32([4, 8]),
      "model.layers.0.mlp.up_proj.weight": { dtype: "BF16", shape: [16, 8], data: new Uint16Array(128) },
      "model.norm.weight": f32([8]),
    });
    const result = pillow(["inspect", directory, "--json"]);
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.kind).toBe("model");
    expect(report.architecture).toBe("LlamaForCausalLM");
    expect([report.layers, report.hiddenSize, report.keyValueHeads]).toEqual([1, 8, 1]);
    expect(report.tokenizer).toBe(false);
    // 80 + 64 + 32 + 128 + 8 parameters; 4 bytes each except the BF16 tensor's 2.
    expect(report.tensors).toEqual({
      count: 5,
      parameters: 312,
      bytes: 184 * 4 + 128 * 2,
      dtypes: { F32: 4, BF16: 1 },
    });
    const text = pillow(["inspect", directory]);
    expect(text.stdout).toContain("tokenizer.json: missing — pass --tokenizer");
    expect(text.stdout).toContain("312 parameters");
  });

  it("summarises a PEFT adapter folder", () => {
    const directory = temporary();
    writeAdapterConfig(directory, {
      r: 2,
      alpha: 8,
      targetModules: ["q_proj", "v_proj"],
      dropout: 0,
      rslora: false,
      bias: "none",
    });
    const tensors: Record<string, ReturnType<typeof f32>> = {};
    for (const layer of [0, 1]) {
      for (const module of ["q_proj", "v_proj"] as const) {
        tensors[peftTensorName(layer, module, "A")] = f32([2, 8]);
        tensors[peftTensorName(layer, module, "B")] = f32([8, 2]);
      }
    }
    writeSafetensors(path.join(directory, "adapter_model.safetensors"), tensors);
    const report = JSON.parse(pillow(["inspect", directory, "--json"]).stdout);
    expect(report).toMatchObject({
      kind: "adapter",
      r: 2,
      alpha: 8,
      scale: 4,
      layers: [0, 1],
      targetModules: ["q_proj", "v_proj"],
    });
    expect(report.tensors.parameters).toBe(2 * 2 * (2 * 8 + 8 * 2)); // layers × modules × (A + B)
  });

  it("exits 3 with what to pass when the path is wrong", () => {
    const missing = pillow(["inspect", path.join(temporary(), "nope")]);
    expect(missing.status).toBe(3);
    expect(missing.stderr).toContain("does not exist");
    expect(missing.stderr).toContain("→ pass a model folder");
    const empty = pillow(["inspect", temporary()]);
    expect(empty.status).toBe(3);
    expect(empty.stderr).toContain("neither config.json");
  });
});

describe("pillow suite export", () => {
  it("writes train and test JSONL for all 16 tasks", () => {
    const directory = temporary();
    const result = pillow([
      "suite",
      "export",
      "--out",
      directory,
      "--train-per-task",
      "3",
      "--test-per-task",
      "2",
      "--json",
    ]);
    expect(result.status, result.stderr).toBe(0);
    const files = JSON.parse(result.stdout) as { task: string; split: string; path: string; count: number }[];
    expect(files.length).toBe(32);
    const first = fs
      .readFileSync(files[0].path, "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(first.length).toBe(3);
    expect(Object.keys(first[0]).sort()).toEqual(["input", "instruction", "output", "task"]);
    expect(files.filter((file) => file.split === "test").every((file) => file.count === 2)).toBe(true);
  });
});

describe("global flags, config and exit codes", () => {
  it("exits 2 on usage errors and 3 on a bad config file", () => {
    expect(pillow(["suite", "export"]).status).toBe(2); // --out missing
    expect(pillow(["--threads", "0", "info"]).status).toBe(2);
    const directory = temporary();
    fs.writeFileSync(path.join(directory, "pillow.config.json"), JSON.stringify({ lora: { rank: 4 } }));
    const bad = pillow(["--config", path.join(directory, "pillow.config.json"), "suite", "export", "--out", directory]);
    expect(bad.status, bad.stderr).toBe(3);
    expect(bad.stderr).toContain("lora: unknown key(s) rank");
  });
});

describe("pillow finetune and generate", () => {
  it("trains a PEFT adapter from JSONL and generates with it", async () => {
    const { createTinyModel } = await import("@pillow/core");
    const directory = temporary();
    const model = path.join(directory, "model");
    createTinyModel(model, { hiddenSize: 32, numLayers: 2, numHeads: 2, maxPositionEmbeddings: 256, seed: 2 });
    const data = path.join(directory, "data.jsonl");
    fs.writeFileSync(
      data,
      `${Array.from({ length: 6 }, (_, index) => JSON.stringify({ instruction: "Repeat the word.", input: `w${index}`, output: `w${index}` })).join("\n")}\n`,
    );
    const out = path.join(directory, "adapter");
    const tuned = pillow([
      "finetune",
      "--model",
      model,
      "--data",
      data,
      "--out",
      out,
      "--epochs",
      "2",
      "--batch-size",
      "3",
      "--lr",
      "0.01",
      "--r",
      "4",
      "--json",
    ]);
    expect(tuned.status, tuned.stderr).toBe(0);
    const result = JSON.parse(tuned.stdout);
    expect(result.steps).toBe(4); // ceil(6 / 3) × 2 epochs
    expect(result.losses.length).toBe(4);
    expect(result.losses.every((loss: number) => Number.isFinite(loss) && loss > 0)).toBe(true);
    const inspected = JSON.parse(pillow(["inspect", out, "--json"]).stdout);
    expect(inspected).toMatchObject({ kind: "adapter", r: 4, alpha: 8 });
    const generated = pillow([
      "generate",
      "--model",
      model,
      "--adapter",
      out,
      "Repeat the word.",
      "--input",
      "w1",
      "--max-tokens",
      "4",
      "--json",
    ]);
    expect(generated.status, generated.stderr).toBe(0);
    const answer = JSON.parse(generated.stdout);
    expect(answer.prompt).toBe("### Instruction:\nRepeat the word.\n### Input:\nw1\n### Response:\n");
    expect(typeof answer.text).toBe("string");
  });

  it("reports a malformed data line as FILE:LINE and exits 3", async () => {
    const { createTinyModel } = await import("@pillow/core");
    const directory = temporary();
    const model = path.join(directory, "model");
    createTinyModel(model, { hiddenSize: 32, numLayers: 1, numHeads: 2, maxPositionEmbeddings: 64, seed: 2 });
    const data = path.join(directory, "bad.jsonl");
    fs.writeFileSync(data, `${JSON.stringify({ instruction: "a", output: "b" })}\n{"instruction": 3, "output": "x"}\n`);
    const result = pillow(["finetune", "--model", model, "--data", data, "--out", path.join(directory, "out")]);
    expect(result.status).toBe(3);
    expect(result.stderr).toContain(`${data}:2`);
  });
});

describe("pillow continual and pretrain", () => {
  it("tunes over task files with replay and reports a lower-triangular R with its metrics", async () => {
    const { createTinyModel } = await import("@pillow/core");
    const directory = temporary();
    const model = path.join(directory, "model");
    createTinyModel(model, { hiddenSize: 32, numLayers: 1, numHeads: 2, maxPositionEmbeddings: 256, seed: 4 });
    const files = ["upper", "echo"].map((task) => {
      const file = path.join(directory, `${task}.jsonl`);
      const lines = Array.from({ length: 5 }, (_, index) =>
        JSON.stringify({
          instruction: `Do ${task}.`,
          input: `x${index}`,
          output: task === "upper" ? `X${index}` : `x${index}`,
        }),
      );
      fs.writeFileSync(file, `${lines.join("\n")}\n`);
      return file;
    });
    const out = path.join(directory, "run");
    const args = [
      "continual",
      "--model",
      model,
      "--tasks",
      ...files,
      "--replay",
      "random",
      "--replay-per-task",
      "2",
      "--epochs",
      "1",
      "--batch-size",
      "4",
    ];
    const result = pillow([...args, "--out", out, "--max-tokens", "4", "--json"]);
    expect(result.status, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout);
    expect(summary.tasks).toEqual(["upper", "echo"]);
    expect(summary.scores.length).toBe(2);
    expect(summary.scores[0].length).toBeGreaterThanOrEqual(1);
    expect(summary.ap[1]).toBeCloseTo((summary.scores[1][0] + summary.scores[1][1]) / 2, 9);
    expect(summary.plans.map((plan: { budget: number }) => plan.budget)).toEqual([0, 2]);
    expect(summary.stages.map((stage: { trainingSize: number }) => stage.trainingSize)).toEqual([4, 6]); // 4 train + 2 replayed
    expect(fs.existsSync(path.join(out, "adapter", "adapter_model.safetensors"))).toBe(true);
  });

  it("pretrains the tiny model into a loadable HF folder", () => {
    const out = path.join(temporary(), "tiny");
    const result = pillow([
      "pretrain",
      "--out",
      out,
      "--steps",
      "1",
      "--batch-size",
      "1",
      "--grad-accum",
      "1",
      "--json",
    ]);
    expect(result.status, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout);
    expect(summary.steps).toBe(1);
    expect(Number.isFinite(summary.finalLoss)).toBe(true);
    const inspected = JSON.parse(pillow(["inspect", out, "--json"]).stdout);
    expect(inspected).toMatchObject({ kind: "model", architecture: "LlamaForCausalLM", tokenizer: true });
    // A second phase from that checkpoint, on a corpus with mixed demonstrations.
    const second = path.join(temporary(), "tiny-2");
    const args = ["pretrain", "--out", second, "--steps", "1", "--batch-size", "1", "--grad-accum", "1", "--seed", "1"];
    const continued = pillow([...args, "--from", out, "--lr", "0.001", "--distractor-share", "0.5", "--json"]);
    expect(continued.status, continued.stderr).toBe(0);
    expect(JSON.parse(continued.stdout).steps).toBe(1);
    const untouched = path.join(temporary(), "tiny-bad");
    const bad = pillow(["pretrain", "--out", untouched, "--steps", "1", "--distractor-share", "1.5"]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/distractorShare must be in \[0, 1\], got 1.5/);
    expect(fs.existsSync(untouched)).toBe(false);
  });
});

describe("pillow chat", () => {
  it("answers each stdin line with the chat template and keeps the conversation", async () => {
    const { createTinyModel, loadModel } = await import("@pillow/core");
    const { writeTinyModelAssets } = await import("@pillow/suite");
    const model = path.join(temporary(), "model");
    // The suite's tokenizer files (with its chat template), then random weights of a smaller shape.
    await writeTinyModelAssets(model);
    createTinyModel(model, {
      hiddenSize: 32,
      numLayers: 1,
      numHeads: 2,
      maxPositionEmbeddings: 512,
      seed: 5,
      tokenizer: false,
    });
    const result = spawnSync(
      process.execPath,
      [bin, "chat", "--model", model, "--temperature", "0", "--max-tokens", "6"],
      {
        encoding: "utf8",
        input: "hello\nagain\n",
        timeout: 60_000,
      },
    );
    expect(result.status, result.stderr).toBe(0);
    // The first answer equals greedy generation on the templated first turn, computed in-process.
    const loaded = await loadModel(model);
    const prompt = loaded.tokenizer!.applyChatTemplate([{ role: "user", content: "hello" }], {
      addGenerationPrompt: true,
    });
    const bos = loaded.tokenizer!.bosToken;
    const expected = await loaded.generate(prompt, {
      maxNewTokens: 6,
      temperature: 0,
      addSpecialTokens: !(bos && prompt.startsWith(bos)),
    });
    expect(result.stdout.startsWith(`${expected.text}\n`)).toBe(true);
    expect(result.stdout.split("\n").length).toBeGreaterThanOrEqual(3);
  });
});

describe("pillow match train / eval", () => {
  it("trains a matcher folder and compares the five selectors on held-out queries", async () => {
    const { createTinyModel } = await import("@pillow/core");
    const directory = temporary();
    const model = path.join(directory, "model");
    createTinyModel(model, { hiddenSize: 32, numLayers: 1, numHeads: 2, maxPositionEmbeddings: 512, seed: 6 });
    const write = (name: string, records: object[]) => {
      const file = path.join(directory, name);
      fs.writeFileSync(file, `${records.map((record) => JSON.stringify(record)).join("\n")}\n`);
      return file;
    };
    const record = (task: string, index: number) => ({
      instruction: `Apply ${task}.`,
      input: `${task}${index}`,
      output: `${task.toUpperCase()}${index}`,
    });
    const pool = write(
      "pool.jsonl",
      ["up", "cap", "low"].flatMap((task) =>
        [0, 1].map((index) => ({ id: `${task}-${index}`, ...record(task, index) })),
      ),
    );
    const train = write(
      "train.jsonl",
      ["up", "cap", "low"].map((task) => record(task, 5)),
    );
    const test = write(
      "test.jsonl",
      ["up", "cap"].map((task) => record(task, 9)),
    );
    const out = path.join(directory, "matcher");
    const trained = pillow([
      "match",
      "train",
      "--model",
      model,
      "--data",
      train,
      "--pool",
      pool,
      "--out",
      out,
      "--k",
      "2",
      "--steps",
      "2",
      "--samples",
      "2",
      "--max-tokens",
      "4",
      "--json",
    ]);
    expect(trained.status, trained.stderr).toBe(0);
    const history = JSON.parse(trained.stdout);
    expect(history.rewards.length).toBe(2);
    expect(history.rewards.every((reward: number) => Number.isFinite(reward))).toBe(true);
    for (const file of ["config.json", "model.safetensors", "pool.jsonl", "pillow-matcher.json"])
      expect(fs.existsSync(path.join(out, file)), file).toBe(true);
    const evaluated = pillow([
      "match",
      "eval",
      "--model",
      model,
      "--matcher",
      out,
      "--data",
      test,
      "--max-tokens",
      "4",
      "--json",
    ]);
    expect(evaluated.status, evaluated.stderr).toBe(0);
    const results = JSON.parse(evaluated.stdout);
    expect(Object.keys(results)).toEqual(["none", "random", "bm25", "knn", "pillow"]);
    expect(results.none.meanDemos).toBe(0);
    expect(results.bm25.meanDemos).toBe(2);
    expect(results.pillow.meanDemos).toBeLessThanOrEqual(2);
    for (const result of Object.values(results) as { rougeL: number }[])
      expect(Number.isFinite(result.rougeL)).toBe(true);
  });
});

describe("pillow match compare", () => {
  const setUp = async () => {
    const { createTinyModel } = await import("@pillow/core");
    const directory = temporary();
    const model = path.join(directory, "model");
    createTinyModel(model, { hiddenSize: 32, numLayers: 1, numHeads: 2, maxPositionEmbeddings: 512, seed: 6 });
    const write = (name: string, lines: string[]) => {
      const file = path.join(directory, name);
      fs.writeFileSync(file, lines.length > 0 ? `${lines.join("\n")}\n` : "");
      return file;
    };
    const record = (task: string, index: number) =>
      JSON.stringify({
        instruction: `Apply ${task}.`,
        input: `${task}${index}`,
        output: `${task.toUpperCase()}${index}`,
      });
    const tasks = ["up", "cap", "low"];
    const files = {
      pool: write(
        "pool.jsonl",
        tasks.flatMap((task) => [0, 1].map((index) => record(task, index))),
      ),
      train: write(
        "train.jsonl",
        tasks.flatMap((task) => [5, 6].map((index) => record(task, index))),
      ),
      validation: write(
        "validation.jsonl",
        tasks.map((task) => record(task, 7)),
      ),
      test: write(
        "test.jsonl",
        tasks.flatMap((task) => [8, 9].map((index) => record(task, index))),
      ),
    };
    return { directory, model, write, record, files };
  };

  it("trains a matcher per seed and reports every selector with intervals, the paired difference and the costs", async () => {
    const { directory, model, files } = await setUp();
    const json = path.join(directory, "compare.json");
    const saved = path.join(directory, "matcher");
    const args = [
      "match",
      "compare",
      "--model",
      model,
      "--pool",
      files.pool,
      "--train",
      files.train,
      "--validation",
      files.validation,
      "--test",
      files.test,
    ];
    const result = pillow([
      ...args,
      "--seeds",
      "0,1",
      "--k",
      "2",
      "--steps",
      "2",
      "--samples",
      "2",
      "--queries-per-step",
      "2",
      "--warm-start-epochs",
      "2",
      "--validation-every",
      "1",
      "--max-tokens",
      "4",
      "--json",
      json,
      "--save",
      saved,
    ]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/\| pillow \| [\d.]+ \| \[[\d.]+, [\d.]+\] \|/);
    expect(result.stdout).toMatch(
      /PILLOW [+-][\d.]+ ROUGE-L vs the best fixed selector \((none|random|bm25|knn)\), 95 % interval/,
    );
    const report = JSON.parse(fs.readFileSync(json, "utf8"));
    expect(Object.keys(report.selectors)).toEqual(["none", "random", "bm25", "knn", "pillow"]);
    for (const entry of Object.values(report.selectors) as {
      mean: number;
      interval: { low: number; high: number };
      perSeed: number[];
      meanDemos: number;
    }[]) {
      expect(entry.perSeed.length).toBe(2);
      for (const value of [entry.mean, entry.interval.low, entry.interval.high, entry.meanDemos, ...entry.perSeed])
        expect(Number.isFinite(value)).toBe(true);
      expect(entry.interval.low).toBeLessThanOrEqual(entry.mean + 1e-9);
      expect(entry.interval.high).toBeGreaterThanOrEqual(entry.mean - 1e-9);
    }
    expect(report.selectors.none.meanDemos).toBe(0);
    expect(["none", "random", "bm25", "knn"]).toContain(report.bestBaseline);
    const difference = report.pillowMinusBestBaseline;
    expect(difference.mean).toBeCloseTo(report.selectors.pillow.mean - report.selectors[report.bestBaseline].mean, 9);
    expect(difference.low).toBeLessThanOrEqual(difference.high);
    expect(difference.perSeed.length).toBe(2);
    expect(report.perSeed.map((run: { seed: number }) => run.seed)).toEqual([0, 1]);
    for (const run of report.perSeed) {
      expect(run.warmStart.teacher).toBe("best-per-instruction");
      expect(run.rewardPerStep.length).toBe(2);
      // loglik rewards are mean log-probabilities: finite and <= 0.
      for (const reward of run.rewardPerStep) expect(reward).toBeLessThanOrEqual(0);
      expect(run.validationCurve.map((point: { step: number }) => point.step)).toEqual([0, 1, 2]);
    }
    expect(report.settings.reward).toBe("loglik");
    expect(report.llmCalls).toBeGreaterThan(0);
    expect(report.cacheHits).toBeGreaterThan(0);
    expect(report.seconds).toBeGreaterThan(0);
    expect(fs.existsSync(path.join(saved, "pillow-matcher.json"))).toBe(true);
    // The saved bundle is what generate --matcher reads.
    const generated = pillow([
      "generate",
      "--model",
      model,
      "--matcher",
      saved,
      "--max-tokens",
      "2",
      "Apply up.",
      "--input",
      "up3",
    ]);
    expect(generated.status, generated.stderr).toBe(0);
  }, 180_000);

  it("names the file and line of empty, malformed, too-small and overlapping inputs", async () => {
    const { model, write, record, files } = await setUp();
    const run = (overrides: Record<string, string>, extra: string[] = []) => {
      const chosen = { ...files, ...overrides };
      return pillow([
        "match",
        "compare",
        "--model",
        model,
        "--pool",
        chosen.pool,
        "--train",
        chosen.train,
        "--test",
        chosen.test,
        "--steps",
        "1",
        ...extra,
      ]);
    };
    const empty = run({ train: write("empty.jsonl", []) });
    expect(empty.status).toBe(3);
    expect(empty.stderr).toMatch(/empty\.jsonl: the training file has no records/);
    const malformed = run({ test: write("bad.jsonl", [record("up", 20), "{not json"]) });
    expect(malformed.status).toBe(3);
    expect(malformed.stderr).toMatch(/bad\.jsonl:2/);
    const small = run({ pool: write("small.jsonl", [record("up", 30), record("cap", 30)]) });
    expect(small.status).toBe(3);
    expect(small.stderr).toMatch(/small\.jsonl: the pool has 2 entries, fewer than k = 3/);
    const overlapping = run({ test: write("overlap.jsonl", [record("up", 40), record("cap", 5)]) });
    expect(overlapping.status).toBe(3);
    expect(overlapping.stderr).toMatch(
      /overlap\.jsonl:2: this test record has the same instruction and input as training .*train\.jsonl:3/,
    );
    const pooled = run({ train: write("pooled.jsonl", [record("low", 1)]) });
    expect(pooled.stderr).toMatch(
      /pooled\.jsonl:1: this training record has the same instruction and input as pool entry .*pool\.jsonl \(id "line-6"\)/,
    );
    const usage = pillow(["match", "compare", "--model", model, "--pool", files.pool]);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/needs --pool, --train and --test \(or --suite\)/);
    const badFeature = run({}, ["--features", "cosine,length"]);
    expect(badFeature.status).toBe(2);
    expect(badFeature.stderr).toMatch(/--features: unknown feature "length"/);
  }, 180_000);
});
