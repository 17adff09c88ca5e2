// Typed reads of a GGUF file's metadata keys: each wrong or missing value is a ConfigError naming
// the file and the key, so a bad file is reported the way a bad config.json is.

import { ConfigError } from "./errors.js";
import type { GgufMetadataValue } from "./gguf-reader.js";

/** Reads the keys of one GGUF file, each check naming the file and the key. */
export class GgufKeys {
  constructor(
    readonly metadata: Map<string, GgufMetadataValue>,
    readonly file: string,
  ) {}

  fail(key: string, message: string, code: "E_FIELD" | "E_UNSUPPORTED" = "E_FIELD"): never {
    throw new ConfigError(code, message, { file: this.file, field: key });
  }
  has(key: string): boolean {
    return this.metadata.has(key);
  }
  string(key: string): string | undefined {
    const value = this.metadata.get(key);
    if (value === undefined) return undefined;
    if (typeof value !== "string") this.fail(key, `must be a string, got ${typeof value}`);
    return value;
  }
  integer(key: string): number | undefined {
    const value = this.metadata.get(key);
    if (value === undefined) return undefined;
    const number = typeof value === "bigint" ? Number(value) : value;
    if (typeof number !== "number" || !Number.isSafeInteger(number) || number < 0)
      this.fail(key, `must be a non-negative integer, got ${String(value)}`);
    return number;
  }
  number(key: string): number | undefined {
    const value = this.metadata.get(key);
    if (value === undefined) return undefined;
    if (typeof value !== "number" || !Number.isFinite(value))
      this.fail(key, `must be a finite number, got ${String(value)}`);
    return value;
  }
  boolean(key: string): boolean | undefined {
    const value = this.metadata.get(key);
    if (value === undefined) return undefined;
    if (typeof value !== "boolean") this.fail(key, `must be a boolean, got ${String(value)}`);
    return value;
  }
  strings(key: string): string[] | undefined {
    const value = this.metadata.get(key);
    if (value === undefined) return undefined;
    if (!Array.isArray(value) || value.some((item) => typeof item !== "string"))
      this.fail(key, "must be an array of strings");
    return value as string[];
  }
  numbers(key: string, length: number): number[] | undefined {
    const value = this.metadata.get(key);
    if (value === undefined) return undefined;
    if (!Array.isArray(value) || value.some((item) => typeof item !== "number"))
      this.fail(key, "must be an array of numbers");
    if (value.length !== length) this.fail(key, `has ${value.length} entries, tokenizer.ggml.tokens has ${length}`);
    return value as number[];
  }
  /** A required key: its reading, or a ConfigError saying it is missing. */
  required<T>(key: string, value: T | undefined): T {
    return value === undefined ? this.fail(key, "missing") : value;
  }
  tokenId(key: string, count: number): number | undefined {
    const id = this.integer(key);
    if (id !== undefined && id >= count) this.fail(key, `token id ${id} is outside the ${count}-token vocabulary`);
    return id;
  }
}
