// The `pillow` command line, built with commander. Each subcommand lives in its own file.
import { Command } from "commander";
import { setThreads } from "@pillow/lora-kernels";
import { collectInfo, formatInfo } from "./info.js";

export function createProgram(): Command {
  const program = new Command();
  program
    .name("pillow")
    .description("LoRA fine-tuning and inference, PILLOW prompt matching and InsCL continual instruction tuning")
    .option("--threads <n>", "native CPU threads (default: all cores)", (value) => Number.parseInt(value, 10))
    .hook("preAction", (command) => {
      const threads = command.opts().threads as number | undefined;
      if (threads !== undefined) setThreads(threads);
    })
    .showHelpAfterError();

  program
    .command("info")
    .description("print the version, the native backend (CPU ISA, threads, CUDA) and exit")
    .option("--json", "print as JSON")
    .addHelpText("after", "\nExamples:\n  pillow info\n  pillow info --json")
    .action((options: { json?: boolean }) => {
      const report = collectInfo();
      console.log(options.json ? JSON.stringify(report, null, 2) : formatInfo(report));
    });
  return program;
}
