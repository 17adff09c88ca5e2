// Shared by every command that loads a model: the folder (flag, then config), clear errors when it
// is not a model, and `name=DIR` adapter lists.
import fs from "node:fs";
import path from "node:path";
import { loadModel, type Model } from "@pillow/core";
import { inputError, usageError } from "./cli-error.js";
import type { PillowConfig } from "./config.js";

/** The --model folder (or .gguf file), checked to hold what loadModel needs. */
export function modelDirectory(flag: string | undefined, config: PillowConfig): string {
  const directory = flag ?? config.model;
  if (!directory)
    throw usageError("no model given", 'pass --model DIR (a Hugging Face folder) or set "model" in pillow.config.json');
  // A GGUF file (llama.cpp / Ollama) carries its config and tokenizer inside.
  if (directory.toLowerCase().endsWith(".gguf")) {
    if (!fs.existsSync(directory) || !fs.statSync(directory).isFile())
      throw inputError(`no GGUF file ${directory}`, "pass an existing .gguf file or a Hugging Face folder");
    return directory;
  }
  if (!fs.existsSync(path.join(directory, "config.json"))) {
    throw inputError(
      `no config.json in ${directory}`,
      "pass the folder that holds config.json, *.safetensors and tokenizer.json",
    );
  }
  if (!fs.existsSync(path.join(directory, "tokenizer.json"))) {
    throw inputError(`no tokenizer.json in ${directory}`, "copy the model's tokenizer.json into the folder");
  }
  return directory;
}

export async function openModel(flag: string | undefined, config: PillowConfig): Promise<Model> {
  return loadModel(modelDirectory(flag, config));
}

/** "name=DIR" or "DIR" (name = the folder's name). */
export function parseAdapterSpec(spec: string): { name: string; directory: string } {
  const equals = spec.indexOf("=");
  const name = equals > 0 ? spec.slice(0, equals) : path.basename(path.resolve(spec));
  const directory = equals > 0 ? spec.slice(equals + 1) : spec;
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(name) || name.includes("..")) {
    throw usageError(
      `adapter name "${name}" is not a plain name`,
      "use --adapter name=DIR with letters, digits, _, - or .",
    );
  }
  if (!fs.existsSync(path.join(directory, "adapter_config.json"))) {
    throw inputError(
      `no adapter_config.json in ${directory}`,
      "pass a PEFT adapter folder (adapter_config.json + adapter_model.safetensors)",
    );
  }
  return { name, directory };
}

export const collect = (value: string, previous: string[] = []) => [...previous, value];
