#!/usr/bin/env node
// Helper commands for building the tiny model (run after `pnpm build`):
//   node scripts/tiny-model.mjs corpus OUT.jsonl [size] [seed]   pretraining corpus, one document a line
//   node scripts/tiny-model.mjs assets DIR                       config, generation config, tokenizer files
//   node scripts/tiny-model.mjs eval-prompts OUT.jsonl [seed]    suite test split, zero-shot and 3-shot
//   node scripts/tiny-model.mjs score PROMPTS.jsonl ANSWERS.jsonl  per-task ROUGE-L table (Markdown)
//   node scripts/tiny-model.mjs evaluate MODEL_DIR [seed] [ANSWERS.jsonl]  answers through @pillow/core, then the table
//   node scripts/tiny-model.mjs pretrain OUT_DIR STEPS [seed] [FROM_DIR] [lr] [distractorShare]   core's full-parameter pretraining
//                                                              (FROM_DIR: continue from that checkpoint's weights)
import { readFileSync, writeFileSync } from "node:fs";
import { loadModel } from "@pillow/core";
import {
  answerEvaluationPrompts,
  buildEvaluationPrompts,
  buildPretrainingCorpus,
  buildSuite,
  evaluationTable,
  instructionKindMap,
  instructionKinds,
  pretrainTinyModel,
  promptStopStrings,
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
} else if (command === "evaluate" && target) {
  const seed = Number(rest[0] ?? 0);
  const prompts = buildEvaluationPrompts(buildSuite({ seed }), { seed });
  const model = await loadModel(target);
  const started = Date.now();
  const answers = await answerEvaluationPrompts(prompts, async (batch) =>
    (await model.generateBatch(batch, { maxNewTokens: 32, stop: promptStopStrings })).map((result) => result.text),
  );
  if (rest[1]) writeFileSync(rest[1], answers.map((answer) => JSON.stringify(answer)).join("\n") + "\n");
  console.log(evaluationTable(scoreEvaluation(prompts, answers)));
  // The same scores by the kind of the test instance's instruction (prompts follow the suite's order).
  const suite = buildSuite({ seed });
  const kinds = instructionKindMap(suite);
  const instances = suite.tasks.flatMap((task) => task.test);
  console.log(
    "\n| instruction kind | instances | zero-shot | 3-shot | gain | 3 other-task demos |\n|---|---:|---:|---:|---:|---:|",
  );
  for (const kind of instructionKinds) {
    // The suite's own scorer over this kind's instances; its per-task means weighted back to instances.
    const chosen = instances.map((_, i) => i).filter((i) => kinds.get(instances[i].instruction) === kind);
    const scores = scoreEvaluation(
      chosen.map((i) => prompts[i]),
      chosen.map((i) => answers[i]),
    );
    const mean = (field) => scores.reduce((sum, score) => sum + score[field] * score.count, 0) / chosen.length;
    const [zero, few, distracted] = [mean("zeroShot"), mean("fewShot"), mean("distracted")];
    console.log(
      `| ${kind} | ${chosen.length} | ${(100 * zero).toFixed(1)} | ${(100 * few).toFixed(1)} | ${(100 * (few - zero)).toFixed(1)} | ${(100 * distracted).toFixed(1)} |`,
    );
  }
  console.log(`\n${prompts.length} test instances, ${((Date.now() - started) / 1000).toFixed(0)} s of generation`);
} else if (command === "pretrain" && target && rest[0]) {
  // The per-step log and the summary are written beside the checkpoint: the recipe's evidence.
  const log = [];
  const result = await pretrainTinyModel({
    outDir: target,
    steps: Number(rest[0]),
    seed: Number(rest[1] ?? 0),
    ...(rest[2] ? { initialModel: rest[2] } : {}),
    ...(rest[3] ? { lr: Number(rest[3]) } : {}),
    ...(rest[4] ? { distractorShare: Number(rest[4]) } : {}),
    onStep: (info) => {
      const record = { step: info.step, loss: info.loss, lr: info.learningRate };
      log.push(JSON.stringify(record));
      console.log(log[log.length - 1]);
    },
  });
  writeFileSync(`${target}/train_log.jsonl`, `${log.join("\n")}\n`);
  writeFileSync(`${target}/pretrain_result.json`, `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result));
} else {
  console.error(
    "usage: tiny-model.mjs corpus OUT.jsonl [size] [seed] | assets DIR | eval-prompts OUT.jsonl [seed] | score PROMPTS ANSWERS | evaluate MODEL_DIR [seed] [ANSWERS] | pretrain OUT_DIR STEPS [seed] [FROM_DIR] [lr] [distractorShare]",
  );
  process.exit(2);
}
