// The tokenizer under fast-check: mutated tokenizer.json either builds a tokenizer that encodes and
// decodes, or fails with a ConfigError (never another error, a crash or a hang); any text round-trips
// through a byte-level BPE; any non-negative id sequence decodes (ids without a token are skipped).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConfigError } from "./errors.js";
import { byteLevelBpe } from "./test-tokenizers.js";
import { Tokenizer } from "./tokenizer.js";

const config = { bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>" };

/** Where a mutation lands: the top-level sections and the model's fields, as tokenizer.json nests them. */
const PATHS: string[][] = [
  ["model"],
  ["model", "type"],
  ["model", "vocab"],
  ["model", "merges"],
  ["model", "unk_token"],
  ["model", "byte_fallback"],
  ["model", "ignore_merges"],
  ["added_tokens"],
  ["normalizer"],
  ["pre_tokenizer"],
  ["pre_tokenizer", "type"],
  ["pre_tokenizer", "pretokenizers"],
  ["post_processor"],
  ["post_processor", "type"],
  ["post_processor", "single"],
  ["decoder"],
  ["decoder", "type"],
];

type Mutation = { path: string[]; value: unknown; remove: boolean };

const mutation: fc.Arbitrary<Mutation> = fc.record({
  path: fc.constantFrom(...PATHS),
  value: fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom(
      "BPE",
      "WordLevel",
      "WordPiece",
      "Unigram",
      "ByteLevel",
      "Sequence",
      "Metaspace",
      "TemplateProcessing",
    ),
    fc.constant([{ id: 3, content: "<x>", special: true }]),
    fc.constant({ a: 0, b: 1 }),
  ),
  remove: fc.boolean(),
});

function mutate(json: Record<string, unknown>, { path, value, remove }: Mutation): void {
  let node: Record<string, unknown> = json;
  for (const key of path.slice(0, -1)) {
    const child = node[key];
    if (typeof child !== "object" || child === null || Array.isArray(child)) return;
    node = child as Record<string, unknown>;
  }
  const last = path[path.length - 1];
  if (remove) delete node[last];
  else node[last] = value;
}

describe("tokenizer.json parsing under fuzzing", () => {
  it("a mutated tokenizer.json builds a working tokenizer or fails with a ConfigError", () => {
    fc.assert(
      fc.property(
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        fc.string({ maxLength: 12 }),
        (mutations, text) => {
          const json = byteLevelBpe() as Record<string, unknown>;
          for (const change of mutations) mutate(json, change);
          let tokenizer: Tokenizer;
          try {
            tokenizer = Tokenizer.fromJson(json, config);
          } catch (error) {
            expect(error).toBeInstanceOf(ConfigError);
            return;
          }
          let ids: Int32Array;
          try {
            ids = tokenizer.encode(text);
          } catch (error) {
            expect(error).toBeInstanceOf(ConfigError);
            return;
          }
          expect(ids).toBeInstanceOf(Int32Array);
          expect(typeof tokenizer.decode(ids)).toBe("string");
        },
      ),
      { numRuns: 600, seed: 7 },
    );
  });

  it("any text round-trips through the byte-level BPE, special-token text included", () => {
    const tokenizer = Tokenizer.fromJson(byteLevelBpe(), config);
    const piece = fc.oneof(
      { weight: 4, arbitrary: fc.string({ unit: "binary", maxLength: 24 }) },
      {
        weight: 1,
        arbitrary: fc.constantFrom("<|eot_id|>", "<|begin_of_text|>", " hello", " world", "\r\n", "\t", "  "),
      },
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 6 }), (pieces) => {
        const text = pieces.join("");
        const ids = tokenizer.encode(text, { addSpecialTokens: false });
        expect(tokenizer.decode(ids)).toBe(text);
        // With the BOS post-processor the text is the same after the BOS token's own text.
        expect(tokenizer.decode(tokenizer.encode(text))).toBe(`<|begin_of_text|>${text}`);
      }),
      { numRuns: 800, seed: 11 },
    );
  });

  it("any sequence of non-negative ids decodes; ids without a token change nothing", () => {
    const tokenizer = Tokenizer.fromJson(byteLevelBpe(), config);
    const known = fc.integer({ min: 0, max: 270 });
    const unknown = fc.integer({ min: 271, max: 2 ** 31 - 1 });
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            known.map((id) => ({ id, known: true })),
            unknown.map((id) => ({ id, known: false })),
          ),
          { maxLength: 16 },
        ),
        (entries) => {
          const all = entries.map((entry) => entry.id);
          const kept = entries.filter((entry) => entry.known).map((entry) => entry.id);
          expect(tokenizer.decode(all)).toBe(tokenizer.decode(kept));
        },
      ),
      { numRuns: 1000, seed: 13 },
    );
  });
});
