// The `pillow` command line, built with commander. Each subcommand lives in its own file under
// commands/; this file holds the global flags and the order of the help listing.
import { setThreads } from "@pillow/core";
import { Command, InvalidArgumentError } from "commander";
import { loadConfig } from "./config.js";
import { registerBench } from "./commands/bench.js";
import { registerChat } from "./commands/chat.js";
import { registerContinual } from "./commands/continual.js";
import { registerDemo } from "./commands/demo.js";
import { registerExport } from "./commands/export.js";
import { registerFinetune } from "./commands/finetune.js";
import { registerGenerate } from "./commands/generate.js";
import { registerInfo } from "./commands/info.js";
import { registerMatch } from "./commands/match.js";
import { registerPretrain } from "./commands/pretrain.js";
import { registerQuantize } from "./commands/quantize.js";
import { registerServe } from "./commands/serve.js";
import { registerInspect } from "./commands/inspect.js";
import { registerSuite } from "./commands/suite.js";

export function createProgram(): Command {
  const program = new Command();
  program
    .name("pillow")
    .description("LoRA fine-tuning and inference, PILLOW prompt matching and InsCL continual instruction tuning")
    .option("--threads <n>", "native CPU threads (default: all cores)", (value) => {
      const threads = Number(value);
      if (!Number.isInteger(threads) || threads < 1) throw new InvalidArgumentError("expects an integer ≥ 1");
      return threads;
    })
    .option("--config <file>", "config file (default: ./pillow.config.json when present)")
    .option("-q, --quiet", "no progress bars or log lines")
    .hook("preAction", (_program, action) => {
      const globals = action.optsWithGlobals() as { threads?: number; config?: string };
      // Validate the config file before any command runs, so a typo in it is never silently ignored.
      const { config } = loadConfig(globals.config);
      const threads = globals.threads ?? config.threads;
      if (threads !== undefined) setThreads(threads);
    })
    .showHelpAfterError("(run `pillow help [command]` for usage and examples)")
    // Errors come back to bin.ts as exceptions so it can choose the exit code (2 for usage errors).
    .exitOverride()
    .addHelpText(
      "after",
      `
Exit codes: 0 ok · 1 the work failed · 2 bad command line or config · 3 bad input file · 130 Ctrl-C
Config: flags override ./pillow.config.json (or --config FILE), which overrides the defaults.`,
    );

  registerDemo(program);
  registerInfo(program);
  registerPretrain(program);
  registerFinetune(program);
  registerContinual(program);
  registerGenerate(program);
  registerChat(program);
  registerMatch(program);
  registerServe(program);
  registerBench(program);
  registerExport(program);
  registerQuantize(program);
  registerInspect(program);
  registerSuite(program);
  return program;
}
