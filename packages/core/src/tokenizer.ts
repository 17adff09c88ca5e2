// The tokenizer of an HF model folder (tokenizer.json + tokenizer_config.json) through
// @huggingface/tokenizers, and its chat template through @huggingface/jinja.

import fs from "node:fs";
import path from "node:path";
import { Template } from "@huggingface/jinja";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { ConfigError } from "./errors.js";

export type ChatMessage = { role: string; content: string };

type TokenizerConfigJson = Record<string, unknown>;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** tokenizer_config.json writes special tokens as a string or as an AddedToken object. */
function specialTokenText(value: unknown): string | null {
  if (typeof value === "string") return value;
  if (isPlainObject(value) && typeof value.content === "string") return value.content;
  return null;
}

function chatTemplateOf(config: TokenizerConfigJson): string | null {
  const template = config.chat_template;
  if (typeof template === "string") return template;
  // Some models ship several named templates; "default" is what apply_chat_template picks.
  if (Array.isArray(template)) {
    const named = template.filter(
      (entry): entry is { name: string; template: string } =>
        isPlainObject(entry) && typeof entry.template === "string",
    );
    return (named.find((entry) => entry.name === "default") ?? named[0])?.template ?? null;
  }
  return null;
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (error) {
    throw new ConfigError("E_JSON", `not valid JSON (${(error as Error).message})`, { file });
  }
}

export class Tokenizer {
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  readonly eosTokenIds: number[];
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  /** The Jinja chat template, or null when the model has none. */
  readonly chatTemplate: string | null;
  /** tokenizer.json as given (the GGUF writer needs the raw vocabulary and merges). */
  readonly tokenizerJson: Record<string, unknown>;
  readonly tokenizerConfig: TokenizerConfigJson;
  private readonly inner: HfTokenizer;
  /** The tokenizer.json the tokenizer came from, named in its errors. */
  private readonly source: string;
  private compiledTemplate: Template | null = null;

  private constructor(
    tokenizerJson: Record<string, unknown>,
    tokenizerConfig: TokenizerConfigJson,
    extraEosIds: number[],
    source: string,
  ) {
    this.tokenizerJson = tokenizerJson;
    this.tokenizerConfig = tokenizerConfig;
    this.source = source;
    if (!isPlainObject(tokenizerJson.model)) {
      throw new ConfigError("E_FIELD", "missing or not an object", { file: source, field: "model" });
    }
    // The library insists on these keys being present; HF writes them as null when unused.
    const complete = {
      normalizer: null,
      pre_tokenizer: null,
      post_processor: null,
      decoder: null,
      added_tokens: [],
      ...tokenizerJson,
    };
    try {
      const model = tokenizerJson.model as Record<string, unknown>;
      this.inner = new HfTokenizer(complete, {
        // The library maps unknown WordLevel words through the config's unk_token, not the model's.
        unk_token: typeof model.unk_token === "string" ? model.unk_token : undefined,
        ...tokenizerConfig,
        // HF Python no longer cleans up spaces by default; doing it would break decode(encode(x)) = x.
        clean_up_tokenization_spaces: tokenizerConfig.clean_up_tokenization_spaces ?? false,
      });
    } catch (error) {
      throw new ConfigError("E_FIELD", `cannot build the tokenizer (${(error as Error).message})`, {
        file: source,
        field: "model",
      });
    }
    this.vocabSize = (this.inner.model as unknown as { vocab: unknown[] }).vocab.length;
    this.bosToken = specialTokenText(tokenizerConfig.bos_token);
    this.eosToken = specialTokenText(tokenizerConfig.eos_token);
    this.bosTokenId = this.bosToken === null ? null : this.tokenToId(this.bosToken);
    const eos = new Set<number>();
    const eosFromConfig = this.eosToken === null ? null : this.tokenToId(this.eosToken);
    if (eosFromConfig !== null) eos.add(eosFromConfig);
    for (const id of extraEosIds) eos.add(id);
    this.eosTokenIds = [...eos];
    this.chatTemplate = chatTemplateOf(tokenizerConfig);
  }

  /**
   * Loads DIR/tokenizer.json, with DIR/tokenizer_config.json (special tokens, chat template),
   * DIR/chat_template.jinja and DIR/generation_config.json (extra eos ids) when present.
   */
  static async load(dir: string): Promise<Tokenizer> {
    const tokenizerFile = path.join(dir, "tokenizer.json");
    if (!fs.existsSync(tokenizerFile)) {
      throw new ConfigError("E_FILE_NOT_FOUND", `no tokenizer.json in ${dir} — pass --tokenizer`, {
        file: tokenizerFile,
      });
    }
    const tokenizerJson = readJson(tokenizerFile);
    if (!isPlainObject(tokenizerJson)) throw new ConfigError("E_JSON", "not a JSON object", { file: tokenizerFile });
    const configFile = path.join(dir, "tokenizer_config.json");
    let tokenizerConfig: TokenizerConfigJson = {};
    if (fs.existsSync(configFile)) {
      const json = readJson(configFile);
      if (!isPlainObject(json)) throw new ConfigError("E_JSON", "not a JSON object", { file: configFile });
      tokenizerConfig = json;
    }
    const templateFile = path.join(dir, "chat_template.jinja");
    if (fs.existsSync(templateFile))
      tokenizerConfig = { ...tokenizerConfig, chat_template: fs.readFileSync(templateFile, "utf8") };
    const extraEos: number[] = [];
    const generationFile = path.join(dir, "generation_config.json");
    if (fs.existsSync(generationFile)) {
      const generation = readJson(generationFile);
      const eos = isPlainObject(generation) ? generation.eos_token_id : undefined;
      for (const id of Array.isArray(eos) ? eos : [eos]) if (Number.isInteger(id)) extraEos.push(id as number);
    }
    return new Tokenizer(tokenizerJson, tokenizerConfig, extraEos, tokenizerFile);
  }

  /**
   * Builds a tokenizer from parsed JSON (tests, files fetched elsewhere, or the tokenizer a GGUF file
   * embeds). `eosTokenIds` adds end-of-sequence ids beyond tokenizer_config's eos_token; `source`
   * is what errors name (default "tokenizer.json").
   */
  static fromJson(
    tokenizerJson: object,
    tokenizerConfig: object = {},
    options: { eosTokenIds?: number[]; source?: string } = {},
  ): Tokenizer {
    const source = options.source ?? "tokenizer.json";
    if (!isPlainObject(tokenizerJson)) throw new ConfigError("E_JSON", "not a JSON object", { file: source });
    return new Tokenizer(tokenizerJson, tokenizerConfig as TokenizerConfigJson, options.eosTokenIds ?? [], source);
  }

  /** Token ids; `addSpecialTokens` (default true) applies the post-processor (e.g. Llama-3's BOS). */
  encode(text: string, options: { addSpecialTokens?: boolean } = {}): Int32Array {
    const encoding = this.library("encode", () =>
      this.inner.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }),
    );
    const ids = Int32Array.from(encoding.ids);
    // An unknown piece with no <unk> in the vocabulary comes back undefined → 0; refuse it instead.
    for (let i = 0; i < encoding.ids.length; i++) {
      if (!Number.isInteger(encoding.ids[i])) {
        throw new ConfigError(
          "E_FIELD",
          `text piece ${JSON.stringify(encoding.tokens[i])} has no token and the vocabulary has no unk_token`,
          {
            file: this.source,
            field: "model.vocab",
          },
        );
      }
    }
    return ids;
  }

  /**
   * The text of `ids`. An id the tokenizer has no token for is skipped, as HF's decode does (its
   * `id_to_token` lookups drop such ids): a model with a padded vocabulary — Qwen2 has 151936 rows
   * for 151646 tokens — can emit one. An id that is not a non-negative integer is a RangeError.
   */
  decode(ids: ArrayLike<number>, options: { skipSpecialTokens?: boolean } = {}): string {
    const known: number[] = [];
    for (const id of Array.from(ids)) {
      if (!Number.isInteger(id) || id < 0) throw new RangeError(`token id ${id} is not a non-negative integer`);
      if (this.inner.id_to_token(id) !== undefined) known.push(id);
    }
    if (known.length === 0) return "";
    return this.library("decode", () =>
      this.inner.decode(known, { skip_special_tokens: options.skipSpecialTokens ?? false }),
    );
  }

  /**
   * Runs the tokenizer library. Some malformed tokenizer.json sections (a post-processor or decoder of
   * the wrong shape) are only read when used; their failure is a ConfigError naming the file, not a
   * TypeError from inside the library.
   */
  private library<T>(what: string, run: () => T): T {
    try {
      return run();
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      throw new ConfigError("E_FIELD", `cannot ${what} with this tokenizer (${(error as Error).message})`, {
        file: this.source,
      });
    }
  }

  tokenToId(token: string): number | null {
    return this.inner.token_to_id(token) ?? null;
  }

  idToToken(id: number): string | null {
    return this.inner.id_to_token(id) ?? null;
  }

  /**
   * Renders the chat template. The result already holds the template's special tokens (e.g. BOS), so
   * encode it with `{ addSpecialTokens: false }`, as HF's apply_chat_template(tokenize=True) does.
   */
  applyChatTemplate(messages: ChatMessage[], options: { addGenerationPrompt?: boolean } = {}): string {
    if (this.chatTemplate === null) {
      throw new ConfigError("E_FIELD", "the model has no chat template", {
        file: "tokenizer_config.json",
        field: "chat_template",
      });
    }
    this.compiledTemplate ??= new Template(this.chatTemplate);
    const specialTokens: Record<string, string> = {};
    for (const [key, value] of Object.entries(this.tokenizerConfig)) {
      const text = key.endsWith("_token") ? specialTokenText(value) : null;
      if (text !== null) specialTokens[key] = text;
    }
    return this.compiledTemplate.render({
      ...specialTokens,
      messages,
      add_generation_prompt: options.addGenerationPrompt ?? false,
      bos_token: this.bosToken ?? "",
      eos_token: this.eosToken ?? "",
    });
  }
}
