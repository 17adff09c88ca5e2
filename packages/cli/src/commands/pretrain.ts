import path from "node:path";
import { pretrainTinyModel } from "@pillow/suite";
import type { Command } from "commander";
import { commandContext, parseInteger, parseNumber } from "../context.js";
import { createProgress } from "../progress.js";

type PretrainFlags = {
  out: string;
  steps: number;
  seed: number;
  batchSize?: number;
  gradAccum?: number;
  lr?: number;
  from?: string;
  distractorShare?: number;
  json?: boolean;
};

export function registerPretrain(program: Command): void {
  program
    .command("pretrain")
    .description(
      "pretrain the tiny LLaMA model from a fixed seed on the suite's corpus (full-parameter training), saved in HF format",
    )
    .requiredOption("--out <dir>", "model folder to write")
    .option("--steps <n>", "optimizer steps (default 600)", parseInteger("--steps", 1), 600)
    .option("--seed <n>", "initialisation and corpus seed", parseInteger("--seed"), 0)
    .option("--batch-size <n>", "documents per micro-batch (default 4)", parseInteger("--batch-size", 1))
    .option("--grad-accum <n>", "micro-batches per step (default 4)", parseInteger("--grad-accum", 1))
    .option("--lr <rate>", "peak learning rate (default 3e-3)", parseNumber("--lr", 0))
    .option(
      "--from <dir>",
      "continue from this checkpoint's weights (a second phase) instead of a random initialisation",
    )
    .option(
      "--distractor-share <share>",
      "share of few-shot documents that mix in other tasks' demonstrations, 0-1 (default 0)",
      parseNumber("--distractor-share", 0),
    )
    .option("--json", "print the result as JSON")
    .addHelpText(
      "after",
      "\nExamples:\n  pillow pretrain --out tiny-model --steps 600\n  pillow pretrain --out tiny-model-2 --steps 600 --seed 1 --from tiny-model --lr 0.001 --distractor-share 0.5\n  pillow demo --model tiny-model",
    )
    .action(async (flags: PretrainFlags, command: Command) => {
      const context = commandContext(command, { json: flags.json });
      const progress = createProgress("pretrain", flags.steps, context.progress);
      try {
        const result = await pretrainTinyModel({
          outDir: path.resolve(flags.out),
          steps: flags.steps,
          seed: flags.seed,
          batchSize: flags.batchSize,
          gradAccum: flags.gradAccum,
          lr: flags.lr,
          ...(flags.from === undefined ? {} : { initialModel: path.resolve(flags.from) }),
          ...(flags.distractorShare === undefined ? {} : { distractorShare: flags.distractorShare }),
          onStep: (info) => progress.tick(1, `loss ${info.loss.toFixed(3)}`),
        });
        progress.stop();
        if (flags.json) console.log(JSON.stringify({ model: path.resolve(flags.out), ...result }, null, 2));
        else
          context.log(
            `tiny model written to ${flags.out}: ${result.steps} steps, final loss ${result.finalLoss.toFixed(4)}, ${result.seconds.toFixed(0)} s`,
          );
      } finally {
        progress.stop();
      }
    });
}
