import fs from "node:fs";
import path from "node:path";
import { type LinearModule, LINEAR_MODULES, readInstructionFile, toPromptCompletion, train } from "@pillow/core";
import { formatPrompt } from "@pillow/suite";
import type { Command } from "commander";
import { usageError } from "../cli-error.js";
import { pick } from "../config.js";
import { commandContext, parseInteger, parseNumber } from "../context.js";
import { guardInterrupts } from "../interrupt.js";
import { openModel } from "../model-options.js";
import { createProgress } from "../progress.js";

type FinetuneFlags = {
  model?: string;
  data: string[];
  out: string;
  r?: number;
  alpha?: number;
  targets?: string;
  rslora?: boolean;
  epochs?: number;
  lr?: number;
  batchSize?: number;
  gradAccum?: number;
  warmup?: number;
  maxLength?: number;
  seed?: number;
  resume?: boolean;
  checkpointEvery?: number;
  json?: boolean;
};

export function registerFinetune(program: Command): void {
  program
    .command("finetune")
    .description(
      "LoRA fine-tuning on instruction data (Alpaca JSONL/JSON, prompt/completion, or chat); writes a PEFT adapter",
    )
    .requiredOption("--data <files...>", "training files (.jsonl or .json)")
    .requiredOption("--out <dir>", "adapter folder to write (adapter_config.json + adapter_model.safetensors)")
    .option("--model <dir>", "base model folder")
    .option("--r <n>", "LoRA rank (default 8)", parseInteger("--r", 1))
    .option("--alpha <a>", "LoRA alpha (default 2·r)", parseNumber("--alpha", 0))
    .option("--targets <list>", `comma-separated modules (default all: ${LINEAR_MODULES.join(",")})`)
    .option("--rslora", "scale by alpha/√r (rsLoRA)")
    .option("--epochs <n>", "epochs (default 3)", parseInteger("--epochs", 1))
    .option("--lr <rate>", "peak learning rate (default 2e-4)", parseNumber("--lr", 0))
    .option("--batch-size <n>", "sequences per micro-batch (default 8)", parseInteger("--batch-size", 1))
    .option("--grad-accum <n>", "micro-batches per optimizer step (default 1)", parseInteger("--grad-accum", 1))
    .option("--warmup <n>", "warm-up steps (default 0)", parseInteger("--warmup", 0))
    .option("--max-length <n>", "truncate sequences to this many tokens", parseInteger("--max-length", 2))
    .option("--seed <n>", "seed (adapter init and shuffling)", parseInteger("--seed"), 0)
    .option(
      "--checkpoint-every <n>",
      "optimizer steps between checkpoints in <out>/checkpoints",
      parseInteger("--checkpoint-every", 1),
    )
    .option("--resume", "continue from <out>/checkpoints")
    .option("--json", "print the result (steps, losses) as JSON")
    .addHelpText(
      "after",
      `
Examples:
  pillow suite export --out data
  pillow finetune --model ./tiny --data data/10-plural_form.train.jsonl --out runs/plural --epochs 3 --lr 3e-3
  pillow finetune --model ./llama --data chats.jsonl --out runs/chat --r 16 --targets q_proj,v_proj --resume`,
    )
    .action(async (flags: FinetuneFlags, command: Command) => {
      const context = commandContext(command, { json: flags.json });
      const lora = context.config.lora ?? {};
      const trainConfig = context.config.train ?? {};
      const targets = (flags.targets?.split(",").map((name) => name.trim()) ??
        lora.targetModules ?? [...LINEAR_MODULES]) as LinearModule[];
      for (const target of targets) {
        if (!LINEAR_MODULES.includes(target))
          throw usageError(`unknown target module "${target}"`, `choose from ${LINEAR_MODULES.join(", ")}`);
      }
      const model = await openModel(flags.model, context.config);
      const examples = flags.data.flatMap((file) => readInstructionFile(file));
      const formatting = {
        formatInstruction: (example: { instruction: string; input: string }) =>
          formatPrompt({ instruction: example.instruction, input: example.input }),
        chatTemplate: model.tokenizer ? model.tokenizer.applyChatTemplate.bind(model.tokenizer) : undefined,
      };
      const dataset = examples.map((example) => {
        const { prompt, completion } = toPromptCompletion(example, formatting);
        return { prompt, completion };
      });
      const r = pick(flags.r, lora.r, 8);
      model.addAdapter("finetune", {
        r,
        alpha: pick(flags.alpha, lora.alpha, 2 * r),
        targetModules: targets,
        rslora: flags.rslora ?? lora.rslora ?? false,
        dropout: lora.dropout,
        seed: flags.seed,
      });
      model.setActiveAdapter("finetune");
      const epochs = pick(flags.epochs, trainConfig.epochs, 3);
      const batchSize = pick(flags.batchSize, trainConfig.batchSize, 8);
      const gradAccum = pick(flags.gradAccum, trainConfig.gradientAccumulation, 1);
      const progress = createProgress(
        "finetune",
        Math.ceil(dataset.length / (batchSize * gradAccum)) * epochs,
        context.progress,
      );
      const guard = guardInterrupts();
      fs.mkdirSync(flags.out, { recursive: true });
      const started = performance.now();
      try {
        const result = await train(model, dataset, {
          mode: "lora",
          epochs,
          lr: pick(flags.lr, trainConfig.learningRate, 2e-4),
          batchSize,
          gradAccum,
          warmup: pick(flags.warmup, trainConfig.warmupSteps, 0),
          clip: trainConfig.maxGradNorm,
          weightDecay: trainConfig.weightDecay,
          maxLength: flags.maxLength ?? trainConfig.maxSequenceLength,
          seed: flags.seed,
          // Checkpoints are atomic, so Ctrl-C (or a crash) loses at most one interval; --resume continues.
          checkpointDir: path.join(flags.out, "checkpoints"),
          checkpointEvery: flags.checkpointEvery,
          resume: flags.resume,
          onStep: (info) => {
            progress.tick(1, `loss ${info.loss.toFixed(3)} · lr ${info.learningRate.toExponential(1)}`);
            guard.check();
          },
        });
        progress.stop();
        model.saveAdapter("finetune", flags.out);
        const seconds = (performance.now() - started) / 1000;
        if (flags.json)
          console.log(
            JSON.stringify({ adapter: path.resolve(flags.out), examples: dataset.length, ...result, seconds }, null, 2),
          );
        else
          context.log(
            `adapter written to ${flags.out}: ${result.steps} steps, final loss ${result.finalLoss.toFixed(4)}, ${seconds.toFixed(1)} s`,
          );
      } finally {
        progress.stop();
        guard.dispose();
      }
    });
}
