import path from "node:path";
import { buildSuite, exportSuiteJsonl, taskNames } from "@pillow/suite";
import type { Command } from "commander";
import { parseInteger } from "../context.js";

export function registerSuite(program: Command): void {
  const suite = program.command("suite").description("the built-in 16-task instruction suite");
  suite
    .command("export")
    .description(
      "write every task's train and test split as Alpaca-style JSONL ({instruction, input, output, task} a line)",
    )
    .requiredOption("--out <dir>", "folder to write into (created when missing)")
    .option("--seed <n>", "suite seed", parseInteger("--seed"), 0)
    .option("--train-per-task <n>", "training instances per task", parseInteger("--train-per-task", 0), 100)
    .option("--test-per-task <n>", "test instances per task", parseInteger("--test-per-task", 0), 20)
    .option("--json", "print the list of written files as JSON")
    .addHelpText(
      "after",
      `\nTasks, in curriculum order: ${taskNames.join(", ")}\n\nExamples:\n  pillow suite export --out data\n  pillow continual --tasks data/00-*.train.jsonl data/01-*.train.jsonl --replay inscl`,
    )
    .action(
      async (options: { out: string; seed: number; trainPerTask: number; testPerTask: number; json?: boolean }) => {
        const built = buildSuite({
          seed: options.seed,
          trainPerTask: options.trainPerTask,
          testPerTask: options.testPerTask,
        });
        const files = await exportSuiteJsonl(path.resolve(options.out), built);
        if (options.json) console.log(JSON.stringify(files, null, 2));
        else {
          for (const file of files) console.log(`${file.path}  ${file.count}`);
          console.log(`${files.length} files, ${built.tasks.length} tasks`);
        }
      },
    );
}
