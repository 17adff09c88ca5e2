// The tokenizer a GGUF file embeds (llama.cpp's `tokenizer.ggml.*` keys) as the tokenizer.json +
// tokenizer_config.json HF would ship for it, so a GGUF model gets the same Tokenizer class as an HF
// folder. Two llama.cpp tokenizer models:
//   "gpt2"  byte-level BPE (GPT-2, Llama-3, Qwen2): vocab + merges, pre-tokenizer regex by
//           `tokenizer.ggml.pre`.
//   "llama" SentencePiece BPE (Llama-2, Mistral): vocab + scores. llama.cpp merges the adjacent pair
//           whose joined piece has the highest score; HF's converter (SentencePieceExtractor) writes
//           the same thing as BPE merges ranked by that score, with byte fallback to <0xXX> tokens.

import { GgufTokenType } from "./gguf-format.js";
import { GgufKeys } from "./gguf-keys.js";
import type { GgufMetadataValue } from "./gguf-reader.js";
import { Tokenizer } from "./tokenizer.js";

type Metadata = Map<string, GgufMetadataValue>;

// llama.cpp's pre-tokenizer regexes (llama-vocab.cpp), in the form HF's tokenizer.json writes them.
const LLAMA3_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
// LLAMA_VOCAB_PRE_TYPE_DEFAULT: four regexes, each splitting the pieces the previous one left.
const DEFAULT_REGEXES = [
  "[\\p{P}\\$\\+<=>\\^~\\|]+",
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
  "\\p{N}+",
  "[0-9][0-9][0-9]",
];

const split = (regex: string) => ({ type: "Split", pattern: { Regex: regex }, behavior: "Isolated", invert: false });
const byteLevel = (useRegex: boolean) => ({
  type: "ByteLevel",
  add_prefix_space: false,
  trim_offsets: true,
  use_regex: useRegex,
});

/** tokenizer.ggml.pre → the HF pre-tokenizer that splits text the way llama.cpp does. */
const BYTE_LEVEL_PRE_TOKENIZERS: Record<string, () => object> = {
  default: () => ({ type: "Sequence", pretokenizers: [...DEFAULT_REGEXES.map(split), byteLevel(false)] }),
  "gpt-2": () => byteLevel(true),
  "llama-bpe": () => ({ type: "Sequence", pretokenizers: [split(LLAMA3_REGEX), byteLevel(false)] }),
  qwen2: () => ({ type: "Sequence", pretokenizers: [split(QWEN2_REGEX), byteLevel(false)] }),
};
BYTE_LEVEL_PRE_TOKENIZERS.llama3 = BYTE_LEVEL_PRE_TOKENIZERS["llama-bpe"];

export type GgufTokenizerParts = {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  eosTokenIds: number[];
};

/**
 * The tokenizer.json / tokenizer_config.json equivalent of a GGUF's tokenizer keys; null when the
 * file has no tokenizer.ggml.model. An unsupported model or pre-tokenizer is a ConfigError E_UNSUPPORTED
 * naming the key.
 */
export function ggufTokenizerParts(metadata: Metadata, file: string): GgufTokenizerParts | null {
  const keys = new GgufKeys(metadata, file);
  const model = keys.string("tokenizer.ggml.model");
  if (model === undefined) return null;
  if (model !== "gpt2" && model !== "llama") {
    keys.fail(
      "tokenizer.ggml.model",
      `tokenizer model ${JSON.stringify(model)} is not supported (gpt2 byte-level BPE, llama SentencePiece BPE)`,
      "E_UNSUPPORTED",
    );
  }
  const tokens =
    keys.strings("tokenizer.ggml.tokens") ??
    keys.fail("tokenizer.ggml.tokens", "missing (required with tokenizer.ggml.model)");
  const types = keys.numbers("tokenizer.ggml.token_type", tokens.length) ?? tokens.map(() => GgufTokenType.NORMAL);
  const count = tokens.length;
  const bos = keys.tokenId("tokenizer.ggml.bos_token_id", count);
  const eos = keys.tokenId("tokenizer.ggml.eos_token_id", count);
  const unknown = keys.tokenId("tokenizer.ggml.unknown_token_id", count);
  const padding = keys.tokenId("tokenizer.ggml.padding_token_id", count);
  // llama.cpp's defaults: SentencePiece prepends BOS, byte-level BPE does not.
  const addBos = keys.boolean("tokenizer.ggml.add_bos_token") ?? model === "llama";
  const addEos = keys.boolean("tokenizer.ggml.add_eos_token") ?? false;

  const vocab: Record<string, number> = {};
  const addedTokens: Record<string, unknown>[] = [];
  for (let id = 0; id < count; id++) {
    const type = types[id];
    // UNUSED rows pad the embedding past the real vocabulary; they have no text.
    if (type === GgufTokenType.UNUSED) continue;
    if (!Object.hasOwn(vocab, tokens[id])) vocab[tokens[id]] = id;
    if (
      type === GgufTokenType.CONTROL ||
      type === GgufTokenType.USER_DEFINED ||
      (model === "llama" && type === GgufTokenType.UNKNOWN)
    ) {
      const special = type !== GgufTokenType.USER_DEFINED;
      addedTokens.push({
        id,
        content: tokens[id],
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: !special && model === "llama",
        special,
      });
    }
  }

  const template = (ids: (number | undefined)[]) =>
    ids.filter((id): id is number => id !== undefined).map((id) => ({ SpecialToken: { id: tokens[id], type_id: 0 } }));
  const prefix = template([addBos ? bos : undefined]);
  const suffix = template([addEos ? eos : undefined]);
  const specialTokens: Record<string, unknown> = {};
  for (const id of [addBos ? bos : undefined, addEos ? eos : undefined])
    if (id !== undefined) specialTokens[tokens[id]] = { id: tokens[id], ids: [id], tokens: [tokens[id]] };
  const postProcessor =
    prefix.length + suffix.length === 0
      ? null
      : {
          type: "TemplateProcessing",
          single: [...prefix, { Sequence: { id: "A", type_id: 0 } }, ...suffix],
          pair: [
            ...prefix,
            { Sequence: { id: "A", type_id: 0 } },
            ...suffix,
            { Sequence: { id: "B", type_id: 1 } },
            ...suffix,
          ],
          special_tokens: specialTokens,
        };

  let tokenizerJson: Record<string, unknown>;
  if (model === "gpt2") {
    const pre = keys.string("tokenizer.ggml.pre") ?? "default";
    const preTokenizer = BYTE_LEVEL_PRE_TOKENIZERS[pre];
    if (!preTokenizer) {
      keys.fail(
        "tokenizer.ggml.pre",
        `pre-tokenizer ${JSON.stringify(pre)} is not supported (${Object.keys(BYTE_LEVEL_PRE_TOKENIZERS).join(", ")})`,
        "E_UNSUPPORTED",
      );
    }
    tokenizerJson = {
      version: "1.0",
      added_tokens: addedTokens,
      normalizer: null,
      pre_tokenizer: preTokenizer(),
      post_processor: postProcessor,
      decoder: byteLevel(false),
      model: {
        type: "BPE",
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: false,
        vocab,
        merges: keys.strings("tokenizer.ggml.merges") ?? [],
      },
    };
  } else {
    const scores =
      keys.numbers("tokenizer.ggml.scores", count) ??
      keys.fail("tokenizer.ggml.scores", "missing (a SentencePiece vocabulary ranks its merges by score)");
    const addSpacePrefix = keys.boolean("tokenizer.ggml.add_space_prefix") ?? true;
    const unknownId = unknown ?? types.indexOf(GgufTokenType.UNKNOWN);
    tokenizerJson = {
      version: "1.0",
      added_tokens: addedTokens,
      // SentencePiece writes spaces as ▁ and (add_dummy_prefix) starts the text with one.
      normalizer: {
        type: "Sequence",
        normalizers: [
          ...(addSpacePrefix ? [{ type: "Prepend", prepend: "▁" }] : []),
          { type: "Replace", pattern: { String: " " }, content: "▁" },
        ],
      },
      pre_tokenizer: null,
      post_processor: postProcessor,
      decoder: {
        type: "Sequence",
        decoders: [
          { type: "Replace", pattern: { String: "▁" }, content: " " },
          { type: "ByteFallback" },
          { type: "Fuse" },
          ...(addSpacePrefix ? [{ type: "Strip", content: " ", start: 1, stop: 0 }] : []),
        ],
      },
      model: {
        type: "BPE",
        dropout: null,
        unk_token: unknownId >= 0 ? tokens[unknownId] : null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: true,
        byte_fallback: types.includes(GgufTokenType.BYTE),
        ignore_merges: false,
        vocab,
        merges: sentencePieceMerges(tokens, scores, types, vocab),
      },
    };
  }

  const tokenizerConfig: Record<string, unknown> = { add_bos_token: addBos, add_eos_token: addEos };
  if (bos !== undefined) tokenizerConfig.bos_token = tokens[bos];
  if (eos !== undefined) tokenizerConfig.eos_token = tokens[eos];
  if (unknown !== undefined) tokenizerConfig.unk_token = tokens[unknown];
  if (padding !== undefined) tokenizerConfig.pad_token = tokens[padding];
  const chatTemplate = keys.string("tokenizer.chat_template");
  if (chatTemplate !== undefined) tokenizerConfig.chat_template = chatTemplate;
  // Instruct models end a turn with EOT (Llama-3's <|eot_id|>) or EOM as well as EOS.
  const eosTokenIds = [
    eos,
    keys.tokenId("tokenizer.ggml.eot_token_id", count),
    keys.tokenId("tokenizer.ggml.eom_token_id", count),
  ].filter((id): id is number => id !== undefined);
  return { tokenizerJson, tokenizerConfig, eosTokenIds: [...new Set(eosTokenIds)] };
}

/**
 * BPE merges equivalent to SentencePiece's score-driven merging (HF's SentencePieceExtractor): every
 * split of a piece into two pieces of the vocabulary, ranked by the joined piece's score (highest
 * first), splits of one piece ordered by their pieces' ids.
 */
function sentencePieceMerges(
  tokens: string[],
  scores: number[],
  types: number[],
  vocab: Record<string, number>,
): string[][] {
  const merges: { left: string; right: string; score: number; order: number }[] = [];
  for (let id = 0; id < tokens.length; id++) {
    if (types[id] === GgufTokenType.UNUSED || types[id] === GgufTokenType.BYTE) continue;
    // Split between code points, not UTF-16 units, so no half of a surrogate pair is looked up.
    const characters = Array.from(tokens[id]);
    const local: { left: string; right: string }[] = [];
    for (let at = 1; at < characters.length; at++) {
      const left = characters.slice(0, at).join("");
      const right = characters.slice(at).join("");
      if (Object.hasOwn(vocab, left) && Object.hasOwn(vocab, right)) local.push({ left, right });
    }
    local.sort((a, b) => vocab[a.left] - vocab[b.left] || vocab[a.right] - vocab[b.right]);
    for (const pair of local) merges.push({ ...pair, score: scores[id], order: merges.length });
  }
  merges.sort((a, b) => b.score - a.score || a.order - b.order);
  return merges.map((merge) => [merge.left, merge.right]);
}

/** The GGUF's embedded tokenizer as a Tokenizer (errors name the file); null when it has none. */
export function ggufTokenizer(metadata: Metadata, file: string): Tokenizer | null {
  const parts = ggufTokenizerParts(metadata, file);
  if (parts === null) return null;
  return Tokenizer.fromJson(parts.tokenizerJson, parts.tokenizerConfig, {
    eosTokenIds: parts.eosTokenIds,
    source: file,
  });
}
