import { describe, expect, it } from "vitest";
import { buildPretrainingCorpus } from "./corpus.js";
import { buildSuite, isHeldOut } from "./suite.js";

// The task whose phrasing an instruction is; vague phrasings (shared by a family) map to `fallback`.
const suiteTasks = buildSuite({ seed: 1, trainPerTask: 0, testPerTask: 0 }).tasks;
function taskOfInstruction(instruction: string, fallback: string): string {
  const owners = suiteTasks.filter(
    (task) => task.instructions.includes(instruction) || task.unseenInstructions.includes(instruction),
  );
  const ownTask = owners.find((task) => !task.vagueInstructions.includes(instruction));
  return ownTask ? ownTask.name : fallback;
}
/** Every block of a document as { instruction, input, task }: the query's task for vague phrasings. */
function blocksOf(document: { text: string; task: string }) {
  return document.text
    .split("### Instruction:\n")
    .slice(1)
    .map((part) => {
      const instruction = part.split("\n")[0];
      const input = part.split("### Input:\n")[1]?.split("\n")[0] ?? "";
      return { instruction, input, task: taskOfInstruction(instruction, document.task) };
    });
}

describe("buildPretrainingCorpus", () => {
  const corpus = buildPretrainingCorpus({ seed: 1, size: 400 });
  const distractorCorpus = buildPretrainingCorpus({ seed: 1, size: 400, distractorShare: 0.5 });
  const corpora = [corpus, distractorCorpus];

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
    for (const document of corpora.flat()) {
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
    for (const document of corpora.flat()) {
      for (const { input, task } of blocksOf(document)) {
        expect(isHeldOut(task, input)).toBe(false);
        if (!inputs.has(task)) inputs.set(task, new Set());
        inputs.get(task)!.add(input);
      }
    }
    const suite = buildSuite({ seed: 1, trainPerTask: 0, testPerTask: 20 });
    for (const task of suite.tasks) {
      for (const instance of task.test) expect(inputs.get(task.name)?.has(instance.input) ?? false).toBe(false);
    }
  });

  it("never uses a task's unseen phrasings (they stand for a user's own wordings)", () => {
    const unseen = new Set(
      buildSuite({ seed: 1, trainPerTask: 0, testPerTask: 0 }).tasks.flatMap((task) => task.unseenInstructions),
    );
    expect(unseen.size).toBe(32);
    for (const document of corpora.flat()) {
      for (const part of document.text.split("### Instruction:\n").slice(1))
        expect(unseen.has(part.split("\n")[0])).toBe(false);
    }
  });

  it("adds other tasks' demonstrations only when asked, keeping the plain corpus's random stream", () => {
    expect(buildPretrainingCorpus({ seed: 1, size: 400, distractorShare: 0 })).toEqual(corpus);
    expect(corpus.every((document) => blocksOf(document).every((block) => block.task === document.task))).toBe(true);
    expect(distractorCorpus).toHaveLength(400);
    expect(buildPretrainingCorpus({ seed: 1, size: 400, distractorShare: 0.5 })).toEqual(distractorCorpus);
    for (const document of distractorCorpus) expect(Buffer.byteLength(document.text)).toBeLessThanOrEqual(500);
  });

  it("mixes demonstrations so that the query's instruction, or its own task's demonstration, decides", () => {
    const familyOf = new Map(suiteTasks.map((task) => [task.name, task.family]));
    const vague = new Set(suiteTasks.flatMap((task) => task.vagueInstructions));
    const mixed = distractorCorpus.filter((document) =>
      blocksOf(document).some((block) => block.task !== document.task),
    );
    // Half of the three quarters that are few-shot documents, give or take the draw.
    expect(mixed.length / distractorCorpus.length).toBeGreaterThan(0.28);
    expect(mixed.length / distractorCorpus.length).toBeLessThan(0.47);
    let vagueQueries = 0;
    for (const document of mixed) {
      const blocks = blocksOf(document);
      const query = blocks.at(-1)!;
      const demos = blocks.slice(0, -1);
      if (vague.has(query.instruction)) {
        vagueQueries++;
        // Its own task's demonstration is there, and no other task of its family (that would be ambiguous).
        expect(demos.some((demo) => demo.task === document.task)).toBe(true);
        for (const demo of demos) {
          if (demo.task !== document.task) expect(familyOf.get(demo.task)).not.toBe(familyOf.get(document.task));
        }
      } else {
        // A specific query: every demonstration is another task's, with a specific phrasing.
        expect(suiteTasks.find((task) => task.name === document.task)!.vagueInstructions).not.toContain(
          query.instruction,
        );
        for (const demo of demos) {
          expect(demo.task).not.toBe(document.task);
          expect(vague.has(demo.instruction)).toBe(false);
        }
      }
    }
    expect(vagueQueries).toBeGreaterThan(0.25 * mixed.length);
  });

  it("rejects bad options with a clear error", () => {
    expect(() => buildPretrainingCorpus({ size: -1 })).toThrow(/size must be a non-negative integer/);
    expect(() => buildPretrainingCorpus({ size: 1, maxBytes: 10 })).toThrow(/maxBytes/);
    expect(() => buildPretrainingCorpus({ size: 1, zeroShotShare: 2 })).toThrow(/zeroShotShare/);
    expect(() => buildPretrainingCorpus({ size: 1, distractorShare: -0.1 })).toThrow(/distractorShare/);
  });
});
