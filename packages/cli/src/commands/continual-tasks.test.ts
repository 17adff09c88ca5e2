import { Command } from "commander";
import { defaultDirectedShare } from "@pillow/replay";
import { describe, expect, it } from "vitest";
import {
  addTrainingOptions,
  CAP_SHARE_DEFAULT,
  parseSharedInstructions,
  parseShareOrNone,
  parseStageOrder,
  shareOrNull,
} from "./continual-tasks.js";

describe("--cap-share and --directed-share", () => {
  it("parse a share, and 'none' as no limit", () => {
    const parseCapShare = parseShareOrNone("--cap-share");
    expect(parseCapShare("0.5")).toBe(0.5);
    expect(parseCapShare("0")).toBe(0);
    expect(parseCapShare("none")).toBe("none");
    expect(() => parseCapShare("-1")).toThrow(/--cap-share must be a number ≥ 0 or "none", got "-1"/);
    expect(() => parseCapShare(" ")).toThrow(/--cap-share/);
    expect(() => parseShareOrNone("--directed-share")("x")).toThrow(
      /--directed-share must be a number ≥ 0 or "none", got "x"/,
    );
    expect(shareOrNull("none")).toBeNull();
    expect(shareOrNull(0.25)).toBe(0.25);
  });

  it("reach the command's options as given (commander turns a parser's null into '')", () => {
    const parse = (argv: string[]) =>
      addTrainingOptions(new Command().exitOverride(), "").parse(argv, { from: "user" }).opts();
    expect(parse([]).capShare).toBe(CAP_SHARE_DEFAULT);
    expect(parse(["--cap-share", "none"]).capShare).toBe("none");
    expect(parse(["--cap-share", "0.25"]).capShare).toBe(0.25);
    expect(parse([]).directedShare).toBe(defaultDirectedShare);
    expect(parse(["--directed-share", "none"]).directedShare).toBe("none");
    expect(parse(["--directed-share", "2"]).directedShare).toBe(2);
  });
});

describe("--shared-instructions", () => {
  it("takes replay or skip (default replay), and names the flag on anything else", () => {
    expect(parseSharedInstructions("skip")).toBe("skip");
    expect(parseSharedInstructions("replay")).toBe("replay");
    expect(() => parseSharedInstructions("drop")).toThrow(
      /--shared-instructions must be one of replay, skip, got "drop"/,
    );
    const parse = (argv: string[]) =>
      addTrainingOptions(new Command().exitOverride(), "").parse(argv, { from: "user" }).opts();
    expect(parse([]).sharedInstructions).toBe("replay");
    expect(parse(["--shared-instructions", "skip"]).sharedInstructions).toBe("skip");
  });
});

describe("--stage-order", () => {
  it("takes current-first or shuffled (default current-first, chosen on validation), and names the flag on anything else", () => {
    expect(parseStageOrder("shuffled")).toBe("shuffled");
    expect(parseStageOrder("current-first")).toBe("current-first");
    expect(() => parseStageOrder("reversed")).toThrow(
      /--stage-order must be one of shuffled, current-first, got "reversed"/,
    );
    const parse = (argv: string[]) =>
      addTrainingOptions(new Command().exitOverride(), "").parse(argv, { from: "user" }).opts();
    expect(parse([]).stageOrder).toBe("current-first");
    expect(parse(["--stage-order", "shuffled"]).stageOrder).toBe("shuffled");
  });
});
