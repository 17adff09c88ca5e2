import { createOpenAIBackend, type GenerationOptions, NativeBackend } from "@pillow/core";
import { formatPrompt, promptStopStrings } from "@pillow/suite";
import type { Command } from "commander";
import { usageError } from "../cli-error.js";
import { pick } from "../config.js";
import { commandContext, parseInteger, parseNumber } from "../context.js";
import { loadMatcherSelector } from "../matching/matcher-demos.js";
import { openModel, parseAdapterSpec } from "../model-options.js";

type GenerateFlags = {
  model?: string;
  adapter?: string;
  prompt?: string;
  input?: string;
  raw?: boolean;
  matcher?: string;
  demos?: number;
  maxTokens?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  stream?: boolean;
  json?: boolean;
  backend?: string;
  endpoint?: string;
  servedModel?: string;
  apiKey?: string;
};

export function registerGenerate(program: Command): void {
  program
    .command("generate")
    .description("answer one instruction with the model (optionally a LoRA adapter and PILLOW demonstrations)")
    .argument("<instruction>", "the instruction (or the whole prompt with --raw)")
    .option("--model <dir>", "model folder")
    .option("--adapter <dir>", "PEFT adapter folder")
    .option("--input <text>", "the instruction's input")
    .option("--raw", "send the text as the prompt, without the instruction template")
    .option("--matcher <dir>", "prepend demonstrations chosen by a PILLOW matcher folder")
    .option("--demos <k>", "demonstrations from the matcher (default: the matcher's k)", parseInteger("--demos", 0))
    .option("--max-tokens <n>", "tokens to generate (default 64)", parseInteger("--max-tokens", 1))
    .option("--temperature <t>", "0 = greedy (default 0)", parseNumber("--temperature", 0))
    .option("--top-k <k>", "sample from the k most likely tokens", parseInteger("--top-k", 0))
    .option("--top-p <p>", "nucleus sampling", parseNumber("--top-p", 0))
    .option("--seed <n>", "sampling seed", parseInteger("--seed"))
    .option("--stream", "print tokens as they come (native backend)")
    .option("--backend <kind>", "native (default) or openai")
    .option("--endpoint <urls>", "openai backend: comma-separated server URLs")
    .option("--served-model <name>", "openai backend: the model name on the server (e.g. base:adapter)")
    .option("--api-key <key>", "openai backend: bearer token")
    .option("--json", "print {prompt, text, demos} as JSON")
    .addHelpText(
      "after",
      `
Examples:
  pillow generate --model ./tiny "Give the plural of the noun." --input mouse
  pillow generate --model ./tiny --adapter runs/plural --matcher pillow-report/matcher "Pluralise." --input goose
  pillow generate --backend openai --endpoint http://127.0.0.1:8000 --served-model tiny:plural "Pluralise." --input ox`,
    )
    .action(async (instruction: string, flags: GenerateFlags, command: Command) => {
      const context = commandContext(command, { json: flags.json });
      const settings = context.config.generate ?? {};
      let demos: { id?: string; instruction: string; input?: string; output: string }[] = [];
      if (flags.matcher) {
        const { selector } = await loadMatcherSelector(flags.matcher);
        demos = await selector.select(flags.input ? `${instruction}\n${flags.input}` : instruction, flags.demos);
      }
      const prompt = flags.raw
        ? instruction
        : formatPrompt({
            instruction,
            input: flags.input,
            demos: demos.map((demo) => ({
              instruction: demo.instruction,
              input: demo.input ?? "",
              output: demo.output,
            })),
          });
      const options: GenerationOptions = {
        maxNewTokens: pick(flags.maxTokens, settings.maxNewTokens, 64),
        temperature: pick(flags.temperature, settings.temperature, 0),
        topK: flags.topK ?? settings.topK,
        topP: flags.topP ?? settings.topP,
        seed: flags.seed,
        stop: flags.raw ? undefined : promptStopStrings,
      };
      const backendKind = flags.backend ?? context.config.backend?.kind ?? "native";
      let text: string;
      if (backendKind === "openai") {
        const endpoints = flags.endpoint?.split(",").filter(Boolean) ?? context.config.backend?.endpoints;
        const served = flags.servedModel ?? context.config.backend?.model;
        if (!endpoints || endpoints.length === 0) throw usageError("the openai backend needs --endpoint URL[,URL…]");
        if (!served)
          throw usageError("the openai backend needs --served-model NAME", "list them with: curl URL/v1/models");
        const backend = createOpenAIBackend({
          endpoints,
          model: served,
          apiKey: flags.apiKey ?? context.config.backend?.apiKey,
        });
        text = (await backend.generate(prompt, options)).text;
        if (!flags.json) process.stdout.write(`${text}\n`);
      } else if (backendKind === "native") {
        const model = await openModel(flags.model, context.config);
        const adapter = flags.adapter ? model.loadAdapter(parseAdapterSpec(flags.adapter).directory, "adapter") : null;
        if (flags.stream && !flags.json) {
          model.setActiveAdapter(adapter);
          text = "";
          for await (const chunk of model.generateStream(prompt, options)) {
            process.stdout.write(chunk.text);
            text += chunk.text;
          }
          process.stdout.write("\n");
        } else {
          text = (await new NativeBackend(model, { adapter }).generate(prompt, options)).text;
          if (!flags.json) process.stdout.write(`${text}\n`);
        }
      } else {
        throw usageError(`unknown backend "${backendKind}"`, "use --backend native or --backend openai");
      }
      if (flags.json)
        console.log(JSON.stringify({ prompt, text, demos: demos.map((demo) => demo.id ?? demo.instruction) }, null, 2));
    });
}
