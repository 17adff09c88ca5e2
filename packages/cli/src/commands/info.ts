import type { Command } from "commander";
import { collectInfo, formatInfo } from "../info.js";

export function registerInfo(program: Command): void {
  program
    .command("info")
    .description("print the version, the native backend (CPU ISA, threads, CUDA) and exit")
    .option("--json", "print as JSON")
    .addHelpText("after", "\nExamples:\n  pillow info\n  pillow --threads 2 info --json")
    .action((options: { json?: boolean }) => {
      const report = collectInfo();
      console.log(options.json ? JSON.stringify(report, null, 2) : formatInfo(report));
    });
}
