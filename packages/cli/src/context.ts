// What every subcommand gets from the global flags: the validated config file, quiet/JSON modes and
// where progress goes.
import type { Command } from "commander";
import { type LoadedConfig, loadConfig } from "./config.js";
import { type ProgressMode, progressMode } from "./progress.js";

export type CommandContext = LoadedConfig & { quiet: boolean; progress: ProgressMode; log: (line: string) => void };

export function commandContext(command: Command, options: { json?: boolean | string } = {}): CommandContext {
  const globals = command.optsWithGlobals() as { config?: string; quiet?: boolean };
  const loaded = loadConfig(globals.config);
  const quiet = globals.quiet === true;
  // With --json on stdout, human-readable lines go to stderr so the JSON stays parseable.
  const jsonOnStdout = options.json === true || options.json === "-";
  return {
    ...loaded,
    quiet,
    progress: progressMode({ quiet, json: jsonOnStdout }),
    log: (line) => {
      if (!quiet) (jsonOnStdout ? process.stderr : process.stdout).write(`${line}\n`);
    },
  };
}

/** Commander argument parsers that fail with a message naming the flag. */
export function parseInteger(flag: string, minimum = Number.NEGATIVE_INFINITY) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < minimum)
      throw new Error(
        `${flag} expects an integer${minimum > Number.NEGATIVE_INFINITY ? ` ≥ ${minimum}` : ""}, got "${value}"`,
      );
    return parsed;
  };
}

export function parseNumber(flag: string, minimum = Number.NEGATIVE_INFINITY) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isFinite(parsed) || parsed < minimum)
      throw new Error(
        `${flag} expects a number${minimum > Number.NEGATIVE_INFINITY ? ` ≥ ${minimum}` : ""}, got "${value}"`,
      );
    return parsed;
  };
}
