// `pillow export gguf` (model or LoRA adapter as GGUF for llama.cpp / Ollama) and `pillow export peft`
// (the adapter of a training checkpoint folder as a standalone PEFT adapter folder).
import fs from "node:fs";
import path from "node:path";
import { exportAdapterToGguf, exportModelToGguf, readAdapterConfig } from "@pillow/core";
import type { Command } from "commander";
import { inputError, usageError } from "../cli-error.js";
import { commandContext } from "../context.js";
import { modelDirectory, parseAdapterSpec } from "../model-options.js";

type GgufOptions = { model?: string; adapter?: string; out: string; dtype: string; json?: boolean };
type PeftOptions = { checkpoint: string; out: string; json?: boolean };

/** The adapter folder of a `--checkpoint-dir` written by `pillow finetune` / core's `train`. */
export function checkpointAdapterDirectory(checkpointDir: string): string {
  const direct = path.join(checkpointDir, "adapter");
  if (fs.existsSync(path.join(direct, "adapter_config.json"))) return direct;
  const latestFile = path.join(checkpointDir, "latest.json");
  if (!fs.existsSync(latestFile)) {
    throw inputError(
      `no latest.json or adapter/ in ${checkpointDir}`,
      "pass the --checkpoint-dir of a LoRA training run, or one checkpoint-N folder",
    );
  }
  let latest: { checkpoint?: unknown };
  try {
    latest = JSON.parse(fs.readFileSync(latestFile, "utf8"));
  } catch (error) {
    throw inputError(`${latestFile}: not JSON (${(error as Error).message})`);
  }
  if (typeof latest.checkpoint !== "string" || latest.checkpoint.includes("/") || latest.checkpoint.includes("..")) {
    throw inputError(`${latestFile}: "checkpoint" must name a checkpoint folder`);
  }
  const adapter = path.join(checkpointDir, latest.checkpoint, "adapter");
  if (!fs.existsSync(path.join(adapter, "adapter_config.json"))) {
    throw inputError(
      `${path.join(checkpointDir, latest.checkpoint)} holds no adapter/ (was it a full-parameter run? its model/ folder is already in HF format)`,
    );
  }
  return adapter;
}

export function registerExport(program: Command): void {
  const exportCommand = program
    .command("export")
    .description("write models and adapters in other tools' formats (GGUF, PEFT)");

  exportCommand
    .command("gguf")
    .description("a model folder, or a PEFT adapter on top of it, as GGUF for llama.cpp and Ollama")
    .option("--model <dir>", "Hugging Face model folder (default: the config file's model)")
    .option("--adapter <dir>", "PEFT adapter folder: write the adapter as a GGUF LoRA instead of the model")
    .requiredOption("--out <file>", "the .gguf file to write")
    .option("--dtype <type>", "f32 or f16 tensors", "f32")
    .option("--json", "print the summary as JSON")
    .addHelpText(
      "after",
      "\nExamples:\n  pillow export gguf --model runs/model --out model.gguf --dtype f16\n  pillow export gguf --model runs/model --adapter runs/adapter --out adapter.gguf\n  llama-cli -m model.gguf --lora adapter.gguf",
    )
    .action((options: GgufOptions, command: Command) => {
      const context = commandContext(command, options);
      if (options.dtype !== "f32" && options.dtype !== "f16")
        throw usageError(`--dtype must be f32 or f16, got "${options.dtype}"`);
      const dtype = options.dtype;
      const model = modelDirectory(options.model, context.config);
      const summary = options.adapter
        ? exportAdapterToGguf(parseAdapterSpec(options.adapter).directory, model, options.out, { dtype })
        : exportModelToGguf(model, options.out, { dtype });
      if (options.json) console.log(JSON.stringify(summary, null, 2));
      else
        context.log(
          `wrote ${summary.file}: ${summary.tensors} tensors, ${(summary.bytes / 2 ** 20).toFixed(1)} MiB (${dtype})`,
        );
    });

  exportCommand
    .command("peft")
    .description("the LoRA adapter of a training checkpoint folder as a standalone PEFT adapter folder")
    .requiredOption(
      "--checkpoint <dir>",
      "a --checkpoint-dir of `pillow finetune` (its latest checkpoint is used) or one checkpoint-N folder",
    )
    .requiredOption("--out <dir>", "the PEFT adapter folder to write (adapter_config.json + adapter_model.safetensors)")
    .option("--json", "print the summary as JSON")
    .addHelpText(
      "after",
      '\nExamples:\n  pillow export peft --checkpoint runs/checkpoints --out runs/adapter\n  # then, in Python: PeftModel.from_pretrained(base, "runs/adapter")',
    )
    .action((options: PeftOptions, command: Command) => {
      const context = commandContext(command, options);
      const source = checkpointAdapterDirectory(options.checkpoint);
      const config = readAdapterConfig(source); // validates before anything is written
      if (fs.existsSync(options.out) && fs.readdirSync(options.out).length > 0) {
        throw usageError(`${options.out} exists and is not empty`, "choose a new --out folder: nothing is overwritten");
      }
      // Copy into a temporary sibling, then rename: a reader never sees half an adapter.
      const temporary = `${path.resolve(options.out)}.tmp-${process.pid}`;
      fs.rmSync(temporary, { recursive: true, force: true });
      fs.cpSync(source, temporary, { recursive: true });
      fs.rmSync(options.out, { recursive: true, force: true });
      fs.renameSync(temporary, options.out);
      const summary = {
        source,
        out: options.out,
        r: config.r,
        alpha: config.alpha,
        targetModules: config.targetModules,
      };
      if (options.json) console.log(JSON.stringify(summary, null, 2));
      else
        context.log(
          `wrote PEFT adapter ${options.out} (r ${config.r}, alpha ${config.alpha}, ${config.targetModules.join(", ")}) from ${source}`,
        );
    });
}
