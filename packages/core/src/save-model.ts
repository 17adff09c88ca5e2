// Writes a model in HF format: config.json, model.safetensors (every weight, in the model's dtype)
// and the tokenizer files copied from the folder the model was loaded from.
import fs from "node:fs";
import path from "node:path";
import { toHfConfigJson } from "./config.js";
import type { Model } from "./model.js";
import { type WritableTensor, writeSafetensors } from "./safetensors.js";
import { writeFileAtomically } from "./write-file-atomically.js";

/** Files next to the weights that describe the tokenizer and generation defaults. */
export const TOKENIZER_FILES = [
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "generation_config.json",
  "chat_template.jinja",
] as const;

export function saveModel(model: Model, dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const tensors: Record<string, WritableTensor> = {};
  const dtype = model.dtype === "bf16" ? "BF16" : "F32";
  for (const name of model.native.tensorNames()) {
    // bf16 weights come back widened to f32 and are rounded back exactly.
    tensors[name] = { dtype, shape: model.native.tensorShape(name), data: model.native.getTensor(name) };
  }
  writeSafetensors(path.join(dir, "model.safetensors"), tensors, { format: "pt" });
  // A sharded index left from an earlier save would shadow the single file.
  fs.rmSync(path.join(dir, "model.safetensors.index.json"), { force: true });
  const config = { ...toHfConfigJson(model.config), torch_dtype: model.dtype === "bf16" ? "bfloat16" : "float32" };
  const configBytes = Buffer.from(`${JSON.stringify(config, null, 2)}\n`, "utf8");
  writeFileAtomically(path.join(dir, "config.json"), configBytes);
  if (path.resolve(dir) !== model.directory) {
    for (const file of TOKENIZER_FILES) {
      const source = path.join(model.directory, file);
      if (fs.existsSync(source)) fs.copyFileSync(source, path.join(dir, file));
    }
  }
  // A model loaded from a GGUF file has no tokenizer files beside it: write the ones built from its metadata.
  if (model.tokenizer && !fs.existsSync(path.join(dir, "tokenizer.json"))) {
    for (const [file, json] of [
      ["tokenizer.json", model.tokenizer.tokenizerJson],
      ["tokenizer_config.json", model.tokenizer.tokenizerConfig],
    ] as const) {
      writeFileAtomically(path.join(dir, file), Buffer.from(`${JSON.stringify(json, null, 2)}\n`, "utf8"));
    }
  }
}
