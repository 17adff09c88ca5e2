#!/usr/bin/env node
import { CommanderError } from "commander";
import { EXIT, exitCodeOf, formatError } from "./cli-error.js";
import { Interrupted } from "./interrupt.js";
import { createProgram } from "./program.js";

createProgram()
  .parseAsync(process.argv)
  .catch((error: unknown) => {
    if (error instanceof CommanderError) {
      // commander already printed the message (and the help after it).
      const clean =
        error.code === "commander.helpDisplayed" || error.code === "commander.version" || error.exitCode === 0;
      process.exit(clean ? EXIT.ok : EXIT.usage);
    }
    if (error instanceof Interrupted) {
      process.stderr.write(`pillow: ${error.message}\n`);
      process.exit(EXIT.interrupted);
    }
    process.stderr.write(`${formatError(error)}\n`);
    if (process.env.PILLOW_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    process.exit(exitCodeOf(error));
  });
