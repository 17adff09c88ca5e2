import readline from "node:readline";
import type { ChatMessage } from "@pillow/core";
import type { Command } from "commander";
import { inputError } from "../cli-error.js";
import { pick } from "../config.js";
import { commandContext, parseInteger, parseNumber } from "../context.js";
import { openModel, parseAdapterSpec } from "../model-options.js";

export function registerChat(program: Command): void {
  program
    .command("chat")
    .description("interactive chat with streaming answers (the model's chat template); empty line or Ctrl-D ends it")
    .option("--model <dir>", "model folder")
    .option("--adapter <dir>", "PEFT adapter folder")
    .option("--system <text>", "system message")
    .option("--max-tokens <n>", "tokens per answer (default 256)", parseInteger("--max-tokens", 1))
    .option("--temperature <t>", "0 = greedy (default 0.7)", parseNumber("--temperature", 0))
    .option("--seed <n>", "sampling seed", parseInteger("--seed"))
    .addHelpText(
      "after",
      '\nExamples:\n  pillow chat --model ./tiny\n  pillow chat --model ./llama --adapter runs/chat --system "Be brief."',
    )
    .action(
      async (
        flags: {
          model?: string;
          adapter?: string;
          system?: string;
          maxTokens?: number;
          temperature?: number;
          seed?: number;
        },
        command: Command,
      ) => {
        const context = commandContext(command);
        const model = await openModel(flags.model, context.config);
        if (!model.tokenizer)
          throw inputError(
            `${model.directory} has no tokenizer.json`,
            "chat needs the model's tokenizer and chat template",
          );
        const adapter = flags.adapter ? model.loadAdapter(parseAdapterSpec(flags.adapter).directory, "adapter") : null;
        model.setActiveAdapter(adapter);
        const messages: ChatMessage[] = flags.system ? [{ role: "system", content: flags.system }] : [];
        const lines = readline.createInterface({ input: process.stdin, terminal: process.stdin.isTTY === true });
        const interactive = process.stdin.isTTY === true;
        if (interactive) process.stdout.write("> ");
        for await (const line of lines) {
          if (line.trim() === "") break;
          messages.push({ role: "user", content: line });
          const prompt = model.tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true });
          let answer = "";
          for await (const chunk of model.generateStream(prompt, {
            maxNewTokens: pick(flags.maxTokens, context.config.generate?.maxNewTokens, 256),
            temperature: pick(flags.temperature, context.config.generate?.temperature, 0.7),
            seed: flags.seed,
            // Templates that write the BOS token themselves must not get a second one.
            addSpecialTokens: !(model.tokenizer.bosToken && prompt.startsWith(model.tokenizer.bosToken)),
          })) {
            process.stdout.write(chunk.text);
            answer += chunk.text;
          }
          process.stdout.write(interactive ? "\n> " : "\n");
          messages.push({ role: "assistant", content: answer });
        }
        lines.close();
      },
    );
}
