// The small random model both llama.cpp GGUF tests run: GQA (4 query heads, 2 KV heads) and an untied
// output layer, so the q and k permutations and output.weight are exercised; every matrix's rows are
// whole 32-value blocks (64, 160), so it quantizes to Q8_0/Q4_0 as is; its wide variant (256, 512)
// has rows of whole 256-value super-blocks for Q4_K.
import path from "node:path";
import { createTinyModel } from "@pillow/core";

export const gqaTestVocab = 300;

/**
 * Writes the model as an HF folder at `dir`/`name` (default hf) and returns that folder. `wide` makes
 * it hidden 256 / intermediate 512, so every matrix's rows are whole 256-value Q4_K super-blocks;
 * `tied` reuses the embedding as the output layer (no output.weight in its GGUF).
 */
export function createGqaTestModel(
  dir: string,
  options: { name?: string; wide?: boolean; tied?: boolean } = {},
): string {
  const folder = path.join(dir, options.name ?? "hf");
  createTinyModel(folder, {
    hiddenSize: options.wide ? 256 : 64,
    intermediateSize: options.wide ? 512 : 160,
    numLayers: 2,
    numHeads: 4,
    numKeyValueHeads: 2,
    vocabSize: gqaTestVocab,
    tieWordEmbeddings: options.tied ?? false,
    seed: 7,
  });
  return folder;
}
