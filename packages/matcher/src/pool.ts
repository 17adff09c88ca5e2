// The prompt pool: demonstrations the matcher chooses from. Built from a user's JSONL file or from
// training data (a few per task, or k-means representatives).

import { readFile } from "node:fs/promises";
import { DataError } from "@pillow/core";
import type { Embedder } from "./embedder.js";
import { kMeans } from "./kmeans.js";
import { createRandom, shuffled } from "./random.js";

export type PromptEntry = {
  id: string;
  instruction: string;
  input?: string;
  output: string;
  /** The task the entry came from, when built from a dataset. */
  task?: string;
};

/** The shape of a training instance (the suite's instances fit it). */
export type DatasetInstance = {
  id?: string | number;
  instruction: string;
  input?: string;
  output: string;
  task?: string;
};

export type FromDatasetOptions = {
  /** Keep this many entries per task (random, or k-means representatives when `kmeans` is set). */
  perTask?: number;
  /** Pick cluster representatives instead of random instances. `k` is needed unless `perTask` is set. */
  kmeans?: { embedder: Embedder; k?: number; seed?: number };
  /** Seed for the random choice per task. */
  seed?: number;
};

/** The text that represents an entry for retrieval and embedding: what a query is compared with. */
export function entryText(entry: Pick<PromptEntry, "instruction" | "input">): string {
  return entry.input ? `${entry.instruction}\n${entry.input}` : entry.instruction;
}

/** Rough token count (4 characters a token) used for the context budget when no tokenizer is given. */
export function approximateTokenCount(text: string): number {
  return Math.ceil(text.length / 4);
}

export class PromptPool {
  readonly entries: readonly PromptEntry[];
  private vectors: Float32Array[] | undefined;
  private readonly indexById = new Map<string, number>();

  constructor(entries: readonly PromptEntry[]) {
    entries.forEach((entry, index) => {
      const problem = entryProblem(entry);
      if (problem) throw new TypeError(`PromptPool: entry ${index}: ${problem}`);
      if (this.indexById.has(entry.id)) throw new RangeError(`PromptPool: entry ${index}: duplicate id "${entry.id}"`);
      this.indexById.set(entry.id, index);
    });
    this.entries = entries.map((entry) => ({ ...entry }));
  }

  get size(): number {
    return this.entries.length;
  }

  get(index: number): PromptEntry {
    const entry = this.entries[index];
    if (!entry) throw new RangeError(`PromptPool: no entry at index ${index} (pool has ${this.size})`);
    return entry;
  }

  indexOf(id: string): number {
    const index = this.indexById.get(id);
    if (index === undefined) throw new RangeError(`PromptPool: no entry with id "${id}"`);
    return index;
  }

  texts(): string[] {
    return this.entries.map(entryText);
  }

  /** Whole-demonstration cost in tokens, for the context budget. */
  tokenCosts(countTokens: (text: string) => number = approximateTokenCount): Float64Array {
    return this.costs((entry) => countTokens(`${entryText(entry)}\n${entry.output}`));
  }

  /** Any per-entry cost, e.g. the UTF-8 bytes of the demonstration as the prompt template renders it. */
  costs(costOf: (entry: PromptEntry) => number): Float64Array {
    return Float64Array.from(this.entries, (entry, index) => {
      const cost = costOf(entry);
      if (!Number.isFinite(cost) || cost < 0) throw new RangeError(`PromptPool.costs: entry ${index} got cost ${cost}`);
      return cost;
    });
  }

  get hasEmbeddings(): boolean {
    return this.vectors !== undefined;
  }

  get embeddings(): Float32Array[] {
    if (!this.vectors) throw new TypeError("PromptPool has no embeddings yet: call `await pool.embed(embedder)` first");
    return this.vectors;
  }

  /** Embeds every entry (instruction + input) with a frozen embedder and keeps the vectors. */
  async embed(embedder: Embedder): Promise<this> {
    this.setEmbeddings(await embedder.embed(this.texts()));
    return this;
  }

  setEmbeddings(vectors: Float32Array[]): void {
    if (vectors.length !== this.size) {
      throw new RangeError(`PromptPool.setEmbeddings: ${vectors.length} vectors for ${this.size} entries`);
    }
    const dimension = vectors[0]?.length;
    vectors.forEach((vector, index) => {
      if (vector.length !== dimension) {
        throw new RangeError(
          `PromptPool.setEmbeddings: vector ${index} has length ${vector.length}, expected ${dimension}`,
        );
      }
    });
    this.vectors = vectors;
  }

  static async fromJsonl(path: string): Promise<PromptPool> {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      throw new DataError("E_FILE_NOT_FOUND", `cannot read the prompt pool: ${(error as Error).message}`, {
        file: path,
      });
    }
    return PromptPool.parseJsonl(text, path);
  }

  /** Parses JSONL text; `source` names the file in errors (`FILE:LINE: reason`). */
  static parseJsonl(text: string, source = "<jsonl>"): PromptPool {
    const entries: PromptEntry[] = [];
    const lineOfId = new Map<string, number>();
    text.split(/\r?\n/).forEach((line, lineIndex) => {
      const lineNumber = lineIndex + 1;
      if (line.trim() === "") return;
      const fail = (reason: string, code: "E_JSON" | "E_FIELD" = "E_FIELD"): never => {
        throw new DataError(code, reason, { file: source, line: lineNumber });
      };
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (error) {
        fail(`not valid JSON (${(error as Error).message})`, "E_JSON");
      }
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        fail("expected a JSON object {id?, instruction, input?, output}", "E_JSON");
      }
      const record = value as Record<string, unknown>;
      const { id, instruction, input, output } = record;
      if (typeof instruction !== "string" || instruction.trim() === "") {
        fail(`"instruction" must be a non-empty string, got ${describe(instruction)}`);
      }
      if (typeof output !== "string") fail(`"output" must be a string, got ${describe(output)}`);
      if (input !== undefined && input !== null && typeof input !== "string") {
        fail(`"input" must be a string when present, got ${describe(input)}`);
      }
      if (id !== undefined && typeof id !== "string" && typeof id !== "number") {
        fail(`"id" must be a string or a number when present, got ${describe(id)}`);
      }
      const entryId = id === undefined ? `line-${lineNumber}` : String(id);
      const previous = lineOfId.get(entryId);
      if (previous !== undefined) fail(`duplicate id "${entryId}" (first seen on line ${previous})`);
      lineOfId.set(entryId, lineNumber);
      entries.push({
        id: entryId,
        instruction: instruction as string,
        ...(typeof input === "string" && input !== "" ? { input } : {}),
        output: output as string,
        ...(typeof record.task === "string" ? { task: record.task } : {}),
      });
    });
    if (entries.length === 0) throw new DataError("E_EMPTY", "the prompt pool is empty", { file: source });
    return new PromptPool(entries);
  }

  static async fromDataset(
    instances: readonly DatasetInstance[],
    options: FromDatasetOptions = {},
  ): Promise<PromptPool> {
    if (!Array.isArray(instances) || instances.length === 0) {
      throw new TypeError("PromptPool.fromDataset: instances must be a non-empty array");
    }
    const { perTask, kmeans, seed = 0 } = options;
    if (perTask !== undefined && (!Number.isInteger(perTask) || perTask < 1)) {
      throw new RangeError(`PromptPool.fromDataset: perTask must be a positive integer, got ${perTask}`);
    }
    if (kmeans && perTask === undefined && (kmeans.k === undefined || !Number.isInteger(kmeans.k) || kmeans.k < 1)) {
      throw new RangeError("PromptPool.fromDataset: kmeans needs a positive integer k (or set perTask)");
    }
    instances.forEach((instance, index) => {
      const problem = entryProblem({ ...instance, id: "checked-separately" } as PromptEntry);
      if (problem) throw new TypeError(`PromptPool.fromDataset: instances[${index}]: ${problem}`);
    });

    const groups = new Map<string, number[]>();
    if (perTask === undefined)
      groups.set(
        "",
        instances.map((_, index) => index),
      );
    else {
      instances.forEach((instance, index) => {
        const task = instance.task ?? "";
        if (!groups.has(task)) groups.set(task, []);
        groups.get(task)!.push(index);
      });
    }

    const chosen: number[] = [];
    for (const [task, members] of groups) {
      const count = perTask ?? kmeans?.k ?? members.length;
      if (kmeans) {
        const vectors = await kmeans.embedder.embed(members.map((index) => entryText(instances[index])));
        const { medoids } = kMeans(vectors, count, { seed: (kmeans.seed ?? seed) + hashTask(task) });
        chosen.push(...medoids.map((position) => members[position]));
      } else {
        const random = createRandom(seed + hashTask(task));
        chosen.push(...shuffled(members, random).slice(0, count));
      }
    }
    const usedIds = new Set<string>();
    const entries = chosen.map((index) => {
      const instance = instances[index];
      let id = instance.id === undefined ? `${instance.task ?? "item"}-${index}` : String(instance.id);
      if (usedIds.has(id)) id = `${id}#${index}`;
      usedIds.add(id);
      return {
        id,
        instruction: instance.instruction,
        ...(instance.input ? { input: instance.input } : {}),
        output: instance.output,
        ...(instance.task !== undefined ? { task: instance.task } : {}),
      };
    });
    return new PromptPool(entries);
  }
}

function hashTask(task: string): number {
  let hash = 0;
  for (let i = 0; i < task.length; i++) hash = (hash * 31 + task.charCodeAt(i)) | 0;
  return hash;
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value;
}

function entryProblem(entry: PromptEntry): string | undefined {
  if (typeof entry !== "object" || entry === null) return "not an object";
  if (typeof entry.id !== "string") return `"id" must be a string, got ${describe(entry.id)}`;
  if (typeof entry.instruction !== "string" || entry.instruction.trim() === "") {
    return `"instruction" must be a non-empty string, got ${describe(entry.instruction)}`;
  }
  if (typeof entry.output !== "string") return `"output" must be a string, got ${describe(entry.output)}`;
  if (entry.input !== undefined && typeof entry.input !== "string") {
    return `"input" must be a string when present, got ${describe(entry.input)}`;
  }
  return undefined;
}
