// The small random model both llama.cpp GGUF tests run: GQA (4 query heads, 2 KV heads) and an untied
// output layer, so the q and k permutations and output.weight are exercised; every matrix's rows are
// whole 32-value blocks (64, 160), so it quantizes to Q8_0/Q4_0 as is.
import path from "node:path";
import { createTinyModel } from "@pillow/core";

export const gqaTestVocab = 300;

/** Writes the model as an HF folder at `dir`/hf and returns that folder. */
export function createGqaTestModel(dir: string): string {
  const folder = path.join(dir, "hf");
  createTinyModel(folder, {
    hiddenSize: 64,
    intermediateSize: 160,
    numLayers: 2,
    numHeads: 4,
    numKeyValueHeads: 2,
    vocabSize: gqaTestVocab,
    tieWordEmbeddings: false,
    seed: 7,
  });
  return folder;
}
