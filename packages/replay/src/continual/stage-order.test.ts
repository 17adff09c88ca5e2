import { describe, expect, it } from "vitest";
import { createRandom } from "../random.js";
import { orderStage, runContinual } from "./run-continual.js";

const current = Array.from({ length: 9 }, (_, i) => `current-${i}`);
const replay = Array.from({ length: 6 }, (_, i) => `replay-${i}`);

describe("orderStage", () => {
  it("shuffled: one shuffle of current and replay together, the same draws as before the option existed", () => {
    const ordered = orderStage(createRandom(7), current, replay, "shuffled");
    expect(ordered).toEqual(createRandom(7).shuffled([...current, ...replay]));
  });

  it("current-first: the first ⌊n/2⌋ are current-task instances only, then the rest of them mixed with the replay", () => {
    const ordered = orderStage(createRandom(7), current, replay, "current-first");
    expect(ordered).toHaveLength(current.length + replay.length);
    expect([...ordered].sort()).toEqual([...current, ...replay].sort());
    const lead = ordered.slice(0, 4);
    expect(lead.every((item) => item.startsWith("current-"))).toBe(true);
    const rest = ordered.slice(4);
    expect(rest.filter((item) => item.startsWith("current-"))).toHaveLength(5);
    expect(rest.filter((item) => item.startsWith("replay-"))).toHaveLength(6);
    // The replay is mixed in, not appended: with this seed some current instance follows a replayed one.
    const firstReplay = rest.findIndex((item) => item.startsWith("replay-"));
    expect(rest.slice(firstReplay).some((item) => item.startsWith("current-"))).toBe(true);
  });

  it("runContinual refuses an unknown stageOrder by name", async () => {
    const learner = {
      async trainStage() {
        return { losses: [] };
      },
      async evaluate() {
        return 0;
      },
    };
    await expect(
      runContinual({
        learner,
        tasks: [
          {
            name: "a",
            train: [{ instruction: "x", input: "", output: "y" }],
            test: [{ instruction: "x", input: "", output: "y" }],
          },
        ],
        strategy: "random",
        // @ts-expect-error: not a StageOrder
        stageOrder: "backwards",
      }),
    ).rejects.toThrow(/stageOrder must be one of shuffled, current-first, got backwards/);
  });
});
