// The tiny model's pretraining corpus: single instances and few-shot prompts (1–4 demonstrations of
// the same task, then a query with its answer), all in formatPrompt's template, so the model learns
// both to follow instructions and to infer the task from demonstrations. Instances are drawn fresh
// from the task generators but only from the non-held-out side of the seed-independent partition
// (isHeldOut), so no test instance of any suite seed can appear here, and never with an "unseen"
// phrasing: those stand for a user's own wordings, which only demonstrations can explain.
import { formatDemonstration, formatPrompt } from "@pillow/core";
import { SuiteError } from "./errors.js";
import { createRandom, type Random } from "./random.js";
import { type Instance, isHeldOut, maxInputLength, maxOutputLength } from "./suite.js";
import { loadTaskDefinitions } from "./tasks/index.js";
import type { TaskDefinition } from "./tasks/task.js";

export type CorpusDocument = {
  text: string;
  /** [start, end) character ranges of every answer in `text` (each answer's newline included). */
  answerSpans: [number, number][];
  task: string;
  shots: number;
};

export type CorpusOptions = {
  seed?: number;
  /** Number of documents. */
  size: number;
  /** Byte budget of one document (the tiny model's context is 512 tokens, one of them BOS). */
  maxBytes?: number;
  /** Share of documents that are a single instance with no demonstrations (default 0.25). */
  zeroShotShare?: number;
  /**
   * Share of the few-shot documents whose demonstrations include other tasks' (default 0): a query
   * with a specific phrasing after demonstrations of any other tasks (the instruction decides), or a
   * query with a vague phrasing after at least one demonstration of its own task mixed with
   * demonstrations of other input families (the matching demonstration decides). A model pretrained
   * only on same-task demonstrations does whatever task its demonstrations show; these documents
   * teach it to look past demonstrations that do not fit the query, as a random or poorly chosen
   * prompt pool gives it.
   */
  distractorShare?: number;
};

function drawTrainSide(definition: TaskDefinition, random: Random, specificOnly = false): Instance {
  for (let attempt = 0; attempt < 10_000; attempt++) {
    const example = definition.draw(random);
    if (!example) continue;
    if (example.input.length > maxInputLength || example.output.length > maxOutputLength) continue;
    if (isHeldOut(definition.name, example.input)) continue;
    const seen = definition.phrasings.filter((phrasing) =>
      specificOnly ? phrasing.kind === "specific" : phrasing.kind !== "unseen",
    );
    const instruction = seen[random.weighted(seen.map((phrasing) => phrasing.weight))].text;
    return { instruction, input: example.input, output: example.output, task: definition.name };
  }
  throw new SuiteError(
    "E_TOO_FEW_INSTANCES",
    `buildPretrainingCorpus: task "${definition.name}" yields no usable instance`,
    { task: definition.name },
  );
}

function documentFrom(demos: Instance[], query: Instance): CorpusDocument {
  let text = "";
  const answerSpans: [number, number][] = [];
  for (const demo of demos) {
    const rendered = formatDemonstration(demo);
    const answerStart = text.length + rendered.length - demo.output.length - 2;
    answerSpans.push([answerStart, answerStart + demo.output.length + 1]);
    text += rendered;
  }
  text += formatPrompt({ instruction: query.instruction, input: query.input });
  answerSpans.push([text.length, text.length + query.output.length + 1]);
  text += `${query.output}\n`;
  return { text, answerSpans, task: query.task, shots: demos.length };
}

/** A few-shot document whose demonstrations include other tasks' (see CorpusOptions.distractorShare). */
function distractorDocument(
  definition: TaskDefinition,
  query: Instance,
  definitions: readonly TaskDefinition[],
  random: Random,
  maxBytes: number,
): CorpusDocument {
  const others = definitions.filter((other) => other.name !== definition.name);
  const vague = definition.phrasings.filter((phrasing) => phrasing.kind === "vague");
  let demos: Instance[];
  if (random.next() < 0.4) {
    // Vague query: its own task's demonstration is the only one that can explain it, so the
    // distractors come from other families (a same-family one would make the answer ambiguous).
    query.instruction = random.pick(vague).text;
    const otherFamilies = others.filter((other) => other.family !== definition.family);
    demos = [drawTrainSide(definition, random)];
    for (let count = random.between(1, 2); count > 0; count--)
      demos.push(drawTrainSide(random.pick(otherFamilies), random, true));
    demos = random.shuffle(demos);
  } else {
    // Specific query: the instruction says what to do, whatever the demonstrations show.
    query.instruction = random.pick(definition.phrasings.filter((phrasing) => phrasing.kind === "specific")).text;
    demos = [];
    for (let count = random.between(1, 3); count > 0; count--)
      demos.push(drawTrainSide(random.pick(others), random, true));
  }
  demos = demos.filter((demo) => demo.input !== query.input || demo.task !== query.task);
  const queryIsVague = vague.some((phrasing) => phrasing.text === query.instruction);
  let document = documentFrom(demos, query);
  // Drop from the front until it fits, the vague query's own-task demonstration last of all.
  while (Buffer.byteLength(document.text) > maxBytes && demos.length > 0) {
    const drop = demos.findIndex((demo) => !queryIsVague || demo.task !== query.task);
    demos.splice(Math.max(drop, 0), 1);
    document = documentFrom(demos, query);
  }
  return document;
}

export function buildPretrainingCorpus(options: CorpusOptions): CorpusDocument[] {
  const { size } = options;
  const seed = options.seed ?? 0;
  const maxBytes = options.maxBytes ?? 500;
  const zeroShotShare = options.zeroShotShare ?? 0.25;
  const distractorShare = options.distractorShare ?? 0;
  if (!Number.isInteger(size) || size < 0) {
    throw new RangeError(`buildPretrainingCorpus: size must be a non-negative integer, got ${size}`);
  }
  if (!(maxBytes >= 200))
    throw new RangeError(`buildPretrainingCorpus: maxBytes must be at least 200, got ${maxBytes}`);
  if (!(zeroShotShare >= 0 && zeroShotShare <= 1)) {
    throw new RangeError(`buildPretrainingCorpus: zeroShotShare must be in [0, 1], got ${zeroShotShare}`);
  }
  if (!(distractorShare >= 0 && distractorShare <= 1)) {
    throw new RangeError(`buildPretrainingCorpus: distractorShare must be in [0, 1], got ${distractorShare}`);
  }
  const definitions = loadTaskDefinitions();
  const random = createRandom(`corpus:${seed}`);
  const documents: CorpusDocument[] = [];
  while (documents.length < size) {
    const definition = random.pick(definitions);
    const query = drawTrainSide(definition, random);
    if (random.next() < zeroShotShare) {
      documents.push(documentFrom([], query));
      continue;
    }
    // Drawn only when asked for, so that corpora without distractors keep their random stream.
    if (distractorShare > 0 && random.next() < distractorShare) {
      documents.push(distractorDocument(definition, query, definitions, random, maxBytes));
      continue;
    }
    const shots = [1, 2, 2, 3, 3, 3, 4][random.integer(7)];
    const demos: Instance[] = [];
    while (demos.length < shots) {
      const demo = drawTrainSide(definition, random);
      if (demo.input !== query.input && !demos.some((d) => d.input === demo.input)) demos.push(demo);
    }
    // Few-shot queries lean on vague phrasings: there, only the demonstrations say what to do.
    if (random.next() < 0.4) {
      const vagueOnes = definition.phrasings.filter((phrasing) => phrasing.kind === "vague");
      query.instruction = random.pick(vagueOnes).text;
    }
    let document = documentFrom(demos, query);
    while (Buffer.byteLength(document.text) > maxBytes && demos.length > 0) {
      demos.shift();
      document = documentFrom(demos, query);
    }
    documents.push(document);
  }
  return documents;
}
