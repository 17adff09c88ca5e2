import type { Command } from "commander";
import { formatInspect, inspectPath } from "../inspect.js";

export function registerInspect(program: Command): void {
  program
    .command("inspect")
    .description(
      "summarise a model folder, a PEFT adapter folder or a .safetensors file (headers only, no weights loaded)",
    )
    .argument("<path>", "model folder (config.json), adapter folder (adapter_config.json) or .safetensors file")
    .option("--json", "print as JSON")
    .addHelpText(
      "after",
      "\nExamples:\n  pillow inspect packages/suite/tiny-model\n  pillow inspect runs/adapter --json\n  pillow inspect model.safetensors",
    )
    .action((location: string, options: { json?: boolean }) => {
      const report = inspectPath(location);
      console.log(options.json ? JSON.stringify(report, null, 2) : formatInspect(report));
    });
}
