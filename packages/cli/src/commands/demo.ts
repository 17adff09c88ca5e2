import path from "node:path";
import { type ReplayStrategy, replayStrategies } from "@pillow/replay";
import type { Command } from "commander";
import { usageError } from "../cli-error.js";
import { commandContext, parseInteger } from "../context.js";
import { runDemo } from "../demo/run-demo.js";
import { guardInterrupts } from "../interrupt.js";

const STRATEGIES: readonly string[] = replayStrategies;

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description(
      "the whole pipeline on the embedded tiny model: continual LoRA tuning with replay none/random/inscl, PILLOW matcher training, selector comparison, HTML report",
    )
    .option("--quick", "a small run (~1 minute) that exercises every phase")
    .option("--out <dir>", "report folder", "pillow-report")
    .option("--json <file>", "also write the summary (every number in the report) as JSON")
    .option("--model <dir>", "model folder (default: the suite's tiny model)")
    .option("--replay <list>", "comma-separated replay strategies", "none,random,inscl,interference")
    .option("--tasks <list>", "comma-separated suite task names (default: the first of the curriculum)")
    .option("--seed <n>", "seed for data, adapters and the matcher", parseInteger("--seed"), 0)
    .addHelpText(
      "after",
      `
Writes <out>/index.html (tables and SVG plots), <out>/results.json, <out>/adapters/<strategy>/ (PEFT)
and <out>/matcher/ (usable with \`pillow serve --matcher\`). Ctrl-C stops after the current step and
keeps every finished strategy in <out>/results.json.

Examples:
  pillow demo
  pillow demo --quick --json summary.json
  pillow --threads 2 demo --out /tmp/report --replay none,inscl`,
    )
    .action(
      async (
        options: {
          quick?: boolean;
          out: string;
          json?: string;
          model?: string;
          replay: string;
          tasks?: string;
          seed: number;
        },
        command: Command,
      ) => {
        const context = commandContext(command);
        const strategies = options.replay
          .split(",")
          .map((name) => name.trim())
          .filter(Boolean);
        for (const strategy of strategies) {
          if (!STRATEGIES.includes(strategy))
            throw usageError(`unknown replay strategy "${strategy}"`, `choose from ${STRATEGIES.join(", ")}`);
        }
        const guard = guardInterrupts();
        try {
          const { summary, report } = await runDemo({
            quick: options.quick,
            out: options.out,
            json: options.json,
            model: options.model ?? context.config.model,
            strategies: strategies as ReplayStrategy[],
            taskNames: options.tasks
              ?.split(",")
              .map((name) => name.trim())
              .filter(Boolean),
            seed: options.seed,
            progress: context.progress,
            log: context.log,
            checkInterrupted: () => guard.check(),
          });
          const relative = path.relative(process.cwd(), report);
          context.log(`report: ${relative.startsWith("..") ? report : relative} (${summary.seconds.toFixed(0)} s)`);
        } finally {
          guard.dispose();
        }
      },
    );
}
