import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadModel } from "@pillow/core";
import { describe, expect, it } from "vitest";
import { buildPretrainingCorpus } from "./corpus.js";
import { corpusExample, pretrainTinyModel } from "./pretrain.js";

describe("pretrainTinyModel", () => {
  it("labels exactly the answer bytes of a corpus document", () => {
    const [document] = buildPretrainingCorpus({ seed: 4, size: 1 });
    const encode = (text: string) => Int32Array.from([256, ...Buffer.from(text)]);
    const example = corpusExample(document, encode) as { tokens: Int32Array; labels: Int32Array };
    const labelled = [...example.labels]
      .map((label, i) => (label === -100 ? "" : String.fromCharCode(example.tokens[i])))
      .join("");
    expect(labelled).toBe(document.answerSpans.map(([start, end]) => document.text.slice(start, end)).join(""));
    expect(() => corpusExample(document, () => new Int32Array(3))).toThrow(/byte-level/);
  });

  it("trains a micro model with core's full-parameter trainer and saves a loadable HF folder", async () => {
    const directory = await mkdtemp(path.join(tmpdir(), "tiny-pretrain-"));
    try {
      const losses: number[] = [];
      const result = await pretrainTinyModel({
        outDir: directory,
        seed: 1,
        steps: 8,
        shape: { hiddenSize: 32, layers: 1, attentionHeads: 2, keyValueHeads: 1, intermediateSize: 64 },
        batchSize: 4,
        gradAccum: 1,
        lr: 1e-2,
        warmup: 2,
        onStep: (info) => losses.push(info.loss),
      });
      expect(result.steps).toBe(8);
      expect(result.documents).toBe(32);
      expect(losses).toHaveLength(8);
      // From ~ln(259) = 5.56 at random init, the answer loss must drop clearly.
      expect(losses[0]).toBeGreaterThan(5);
      expect(Math.min(...losses.slice(-3))).toBeLessThan(losses[0] - 1);
      const config = JSON.parse(await readFile(path.join(directory, "config.json"), "utf8"));
      expect(config.hidden_size).toBe(32);
      const tokenizerConfig = JSON.parse(await readFile(path.join(directory, "tokenizer_config.json"), "utf8"));
      expect(tokenizerConfig.chat_template).toContain("### Instruction:");
      const model = await loadModel(directory);
      const generated = await model.generate("### Instruction:\nAnswer.\n### Response:\n", { maxNewTokens: 4 });
      expect(generated.tokens.length).toBeGreaterThan(0);

      // A second phase starts from the first phase's weights: its first loss continues the curve
      // (well below the random-init loss) instead of starting over.
      const second = `${directory}-phase2`;
      try {
        const secondLosses: number[] = [];
        await pretrainTinyModel({
          outDir: second,
          seed: 2,
          steps: 2,
          shape: { hiddenSize: 32, layers: 1, attentionHeads: 2, keyValueHeads: 1, intermediateSize: 64 },
          batchSize: 4,
          gradAccum: 1,
          lr: 1e-3,
          warmup: 1,
          initialModel: directory,
          onStep: (info) => secondLosses.push(info.loss),
        });
        expect(secondLosses[0]).toBeLessThan(losses[0] - 1);
        expect(JSON.parse(await readFile(path.join(second, "config.json"), "utf8")).hidden_size).toBe(32);
      } finally {
        await rm(second, { recursive: true, force: true });
      }
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
    await expect(pretrainTinyModel({ outDir: "", steps: 1 })).rejects.toThrow(/outDir/);
    await expect(pretrainTinyModel({ outDir: "x", steps: 0 })).rejects.toThrow(/steps must be a positive integer/);
    // A bad share is refused before the folder is made.
    const untouched = path.join(tmpdir(), `pillow-pretrain-untouched-${process.pid}`);
    await expect(pretrainTinyModel({ outDir: untouched, steps: 1, distractorShare: 1.5 })).rejects.toThrow(
      /distractorShare must be in \[0, 1\], got 1.5/,
    );
    expect(existsSync(untouched)).toBe(false);
  });
});
