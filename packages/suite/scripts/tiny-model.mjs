#!/usr/bin/env node
// Helper commands for building the tiny model (run after `pnpm build`):
//   node scripts/tiny-model.mjs corpus OUT.jsonl [size] [seed]   pretraining corpus, one document a line
//   node scripts/tiny-model.mjs assets DIR                       config, generation config, tokenizer files
//   node scripts/tiny-model.mjs eval-prompts OUT.jsonl [seed]    suite test split, zero-shot and 3-shot
//   node scripts/tiny-model.mjs score PROMPTS.jsonl ANSWERS.jsonl  per-task ROUGE-L table (Markdown)
import { readFileSync, writeFileSync } from "node:fs";
import {
  buildEvaluationPrompts,
  buildPretrainingCorpus,
  buildSuite,
  evaluationTable,
  scoreEvaluation,
  writeTinyModelAssets,
} from "../dist/index.js";

const readJsonl = (file) =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line));

const [command, target, ...rest] = process.argv.slice(2);
if (command === "corpus" && target) {
  const size = Number(rest[0] ?? 60000);
  const seed = Number(rest[1] ?? 0);
  const documents = buildPretrainingCorpus({ seed, size });
  writeFileSync(target, documents.map((document) => JSON.stringify(document)).join("\n") + "\n");
  console.log(`wrote ${documents.length} documents to ${target}`);
} else if (command === "assets" && target) {
  await writeTinyModelAssets(target);
  console.log(`wrote config and tokenizer files to ${target}`);
} else if (command === "eval-prompts" && target) {
  const seed = Number(rest[0] ?? 0);
  const prompts = buildEvaluationPrompts(buildSuite({ seed }), { seed });
  writeFileSync(target, prompts.map((prompt) => JSON.stringify(prompt)).join("\n") + "\n");
  console.log(`wrote ${prompts.length} prompts to ${target}`);
} else if (command === "score" && target && rest[0]) {
  console.log(evaluationTable(scoreEvaluation(readJsonl(target), readJsonl(rest[0]))));
} else {
  console.error("usage: tiny-model.mjs corpus OUT.jsonl [size] [seed] | assets DIR | eval-prompts OUT.jsonl [seed] | score PROMPTS ANSWERS");
  process.exit(2);
}
