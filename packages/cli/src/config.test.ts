import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CliError, EXIT } from "./cli-error.js";
import { loadConfig, pick } from "./config.js";

function directoryWith(contents?: string): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-config-"));
  if (contents !== undefined) fs.writeFileSync(path.join(directory, "pillow.config.json"), contents);
  return directory;
}

describe("pillow.config.json", () => {
  it("is optional and found in the working directory", () => {
    expect(loadConfig(undefined, directoryWith())).toEqual({ config: {} });
    const directory = directoryWith(JSON.stringify({ threads: 2, lora: { r: 4, alpha: 8 }, serve: { port: 9000 } }));
    const loaded = loadConfig(undefined, directory);
    expect(loaded.config.lora).toEqual({ r: 4, alpha: 8 });
    expect(loaded.file).toBe(path.join(directory, "pillow.config.json"));
  });

  it("names the bad key and exits with the input code", () => {
    const typo = directoryWith(JSON.stringify({ lora: { rank: 4 } }));
    const error = (() => {
      try {
        loadConfig(undefined, typo);
      } catch (caught) {
        return caught as CliError;
      }
    })()!;
    expect(error).toBeInstanceOf(CliError);
    expect(error.exitCode).toBe(EXIT.input);
    expect(error.message).toContain("lora: unknown key(s) rank");
    expect(() => loadConfig(undefined, directoryWith(JSON.stringify({ serve: { port: 70000 } })))).toThrow(
      /serve\.port: /,
    );
    expect(() => loadConfig(undefined, directoryWith("{ oops"))).toThrow(/not valid JSON/);
    expect(() => loadConfig("missing.json", directoryWith())).toThrow(/does not exist/);
  });

  it("lets flags override the file and the file override defaults", () => {
    expect(pick(3, 2, 1)).toBe(3);
    expect(pick(undefined, 2, 1)).toBe(2);
    expect(pick(undefined, undefined, 1)).toBe(1);
    expect(pick(0, 2, 1)).toBe(0);
  });
});
