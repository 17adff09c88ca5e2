import { describe, expect, it } from "vitest";
import { buildPretrainingCorpus } from "./corpus.js";
import { buildSuite, isHeldOut } from "./suite.js";

describe("buildPretrainingCorpus", () => {
  const corpus = buildPretrainingCorpus({ seed: 1, size: 400 });

  it("is deterministic and sized as asked", () => {
    expect(corpus).toHaveLength(400);
    expect(buildPretrainingCorpus({ seed: 1, size: 400 })).toEqual(corpus);
    expect(buildPretrainingCorpus({ seed: 2, size: 400 })).not.toEqual(corpus);
  });

  it("mixes zero-shot and few-shot documents within the byte budget, over all 16 tasks", () => {
    const zeroShot = corpus.filter((document) => document.shots === 0).length;
    expect(zeroShot / corpus.length).toBeGreaterThan(0.15);
    expect(zeroShot / corpus.length).toBeLessThan(0.35);
    expect(corpus.some((document) => document.shots >= 3)).toBe(true);
    expect(new Set(corpus.map((document) => document.task)).size).toBe(16);
    for (const document of corpus) {
      expect(Buffer.byteLength(document.text)).toBeLessThanOrEqual(500);
      expect(document.answerSpans).toHaveLength(document.shots + 1);
      expect(document.text.split("### Response:\n")).toHaveLength(document.shots + 2);
    }
  });

  it("marks exactly the answers (with their newline) as answer spans", () => {
    for (const document of corpus) {
      const answers = document.text
        .split("### Response:\n")
        .slice(1)
        .map((part) => `${part.split("\n")[0]}\n`);
      expect(document.answerSpans.map(([start, end]) => document.text.slice(start, end))).toEqual(answers);
      expect(document.answerSpans.at(-1)![1]).toBe(document.text.length);
    }
  });

  it("never contains a held-out input, so no suite test instance can leak in", () => {
    const inputs = new Map<string, Set<string>>();
    for (const document of corpus) {
      const parts = document.text.split("### Input:\n").slice(1);
      for (const part of parts) {
        const input = part.split("\n")[0];
        expect(isHeldOut(document.task, input)).toBe(false);
        if (!inputs.has(document.task)) inputs.set(document.task, new Set());
        inputs.get(document.task)!.add(input);
      }
    }
    const suite = buildSuite({ seed: 1, trainPerTask: 0, testPerTask: 20 });
    for (const task of suite.tasks) {
      for (const instance of task.test) expect(inputs.get(task.name)?.has(instance.input) ?? false).toBe(false);
    }
  });

  it("never uses a task's unseen phrasings (they stand for a user's own wordings)", () => {
    const unseen = new Set(buildSuite({ seed: 1, trainPerTask: 0, testPerTask: 0 }).tasks.flatMap((task) => task.unseenInstructions));
    expect(unseen.size).toBe(32);
    for (const document of corpus) {
      for (const part of document.text.split("### Instruction:\n").slice(1)) expect(unseen.has(part.split("\n")[0])).toBe(false);
    }
  });

  it("rejects bad options with a clear error", () => {
    expect(() => buildPretrainingCorpus({ size: -1 })).toThrow(/size must be a non-negative integer/);
    expect(() => buildPretrainingCorpus({ size: 1, maxBytes: 10 })).toThrow(/maxBytes/);
    expect(() => buildPretrainingCorpus({ size: 1, zeroShotShare: 2 })).toThrow(/zeroShotShare/);
  });
});
