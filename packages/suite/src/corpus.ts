// The tiny model's pretraining corpus: single instances and few-shot prompts (1–4 demonstrations of
// the same task, then a query with its answer), all in formatPrompt's template, so the model learns
// both to follow instructions and to infer the task from demonstrations. Instances are drawn fresh
// from the task generators but only from the non-held-out side of the seed-independent partition
// (isHeldOut), so no test instance of any suite seed can appear here, and never with an "unseen"
// phrasing: those stand for a user's own wordings, which only demonstrations can explain.
import { formatDemonstration, formatPrompt } from "./prompt.js";
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
};

function drawTrainSide(definition: TaskDefinition, random: Random): Instance {
  for (let attempt = 0; attempt < 10_000; attempt++) {
    const example = definition.draw(random);
    if (!example) continue;
    if (example.input.length > maxInputLength || example.output.length > maxOutputLength) continue;
    if (isHeldOut(definition.name, example.input)) continue;
    const seen = definition.phrasings.filter((phrasing) => phrasing.kind !== "unseen");
    const instruction = seen[random.weighted(seen.map((phrasing) => phrasing.weight))].text;
    return { instruction, input: example.input, output: example.output, task: definition.name };
  }
  throw new Error(`buildPretrainingCorpus: task "${definition.name}" yields no usable instance`);
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

export function buildPretrainingCorpus(options: CorpusOptions): CorpusDocument[] {
  const { size } = options;
  const seed = options.seed ?? 0;
  const maxBytes = options.maxBytes ?? 500;
  const zeroShotShare = options.zeroShotShare ?? 0.25;
  if (!Number.isInteger(size) || size < 0) {
    throw new Error(`buildPretrainingCorpus: size must be a non-negative integer, got ${size}`);
  }
  if (!(maxBytes >= 200)) throw new Error(`buildPretrainingCorpus: maxBytes must be at least 200, got ${maxBytes}`);
  if (!(zeroShotShare >= 0 && zeroShotShare <= 1)) {
    throw new Error(`buildPretrainingCorpus: zeroShotShare must be in [0, 1], got ${zeroShotShare}`);
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
    const shots = [1, 2, 2, 3, 3, 3, 4][random.int(7)];
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
