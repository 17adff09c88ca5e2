// `pillow quantize`: an HF model folder as a GGUF of llama.cpp's Q8_0, Q4_0 or Q4_K blocks (the exporter of
// `pillow export gguf`, with quantized matrices), loadable by llama.cpp, Ollama and `--model FILE.gguf`.
import { exportModelToGguf } from "@pillow/core";
import type { Command } from "commander";
import { usageError } from "../cli-error.js";
import { commandContext } from "../context.js";
import { modelDirectory } from "../model-options.js";

type QuantizeOptions = { model?: string; type: string; out: string; json?: boolean };

const TYPES = ["q8_0", "q4_0", "q4_k"] as const;

export function registerQuantize(program: Command): void {
  program
    .command("quantize")
    .description(
      "a model folder as a quantized GGUF (llama.cpp's Q8_0, Q4_0 or Q4_K blocks) for llama.cpp, Ollama and pillow",
    )
    .option("--model <dir>", "Hugging Face model folder (default: the config file's model)")
    .requiredOption("--type <type>", `block format: ${TYPES.join(", ")}`)
    .requiredOption("--out <file>", "the .gguf file to write")
    .option("--json", "print the summary as JSON")
    .addHelpText(
      "after",
      '\nEvery matrix whose rows are whole blocks is quantized (the embedding and output layer too): 32 values\nfor q8_0 and q4_0, 256 for q4_k. Under q4_k a matrix whose rows are whole 32-value blocks but not\n256-value ones is written as Q4_0 (the same 4.5 bits per weight). Norms and biases stay f32, any\nother matrix f16.\n\nExamples:\n  pillow quantize --model runs/model --type q8_0 --out model-q8_0.gguf\n  pillow quantize --model runs/model --type q4_k --out model-q4_k.gguf\n  pillow generate --model model-q8_0.gguf "Name a color."',
    )
    .action((options: QuantizeOptions, command: Command) => {
      const context = commandContext(command, options);
      const type = options.type.toLowerCase();
      if (!(TYPES as readonly string[]).includes(type))
        throw usageError(`--type must be one of ${TYPES.join(", ")}, got "${options.type}"`);
      const model = modelDirectory(options.model, context.config);
      const summary = { ...exportModelToGguf(model, options.out, { dtype: type as (typeof TYPES)[number] }), type };
      if (options.json) console.log(JSON.stringify(summary, null, 2));
      else
        context.log(
          `wrote ${summary.file}: ${summary.tensors} tensors, ${(summary.bytes / 2 ** 20).toFixed(1)} MiB (${type})`,
        );
    });
}
