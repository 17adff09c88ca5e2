import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { addTrainingOptions, CAP_SHARE_DEFAULT, parseCapShare } from "./continual-tasks.js";

describe("--cap-share", () => {
  it("parses a share, and 'none' as no cap", () => {
    expect(parseCapShare("0.5")).toBe(0.5);
    expect(parseCapShare("0")).toBe(0);
    expect(parseCapShare("none")).toBe("none");
    expect(() => parseCapShare("-1")).toThrow(/--cap-share must be a number ≥ 0 or "none", got "-1"/);
    expect(() => parseCapShare(" ")).toThrow(/--cap-share/);
  });

  it("reaches the command's options as given (commander turns a parser's null into '')", () => {
    const parse = (argv: string[]) => addTrainingOptions(new Command().exitOverride(), "").parse(argv, { from: "user" }).opts();
    expect(parse([]).capShare).toBe(CAP_SHARE_DEFAULT);
    expect(parse(["--cap-share", "none"]).capShare).toBe("none");
    expect(parse(["--cap-share", "0.25"]).capShare).toBe(0.25);
  });
});
