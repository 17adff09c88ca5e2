import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "./errors.js";
import { byteLevelBpe, byteToUnicode } from "./test-tokenizers.js";
import { Tokenizer } from "./tokenizer.js";

const LLAMA3_TEMPLATE =
  "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}";

const tokenizerConfig = { bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>", chat_template: LLAMA3_TEMPLATE };

describe("Tokenizer on a byte-level BPE", () => {
  const tokenizer = Tokenizer.fromJson(byteLevelBpe(), tokenizerConfig);

  it("applies the merges and the BOS post-processor", () => {
    expect(Array.from(tokenizer.encode("hello world", { addSpecialTokens: false }))).toEqual([259, 264]);
    expect(Array.from(tokenizer.encode("hello world"))).toEqual([266, 259, 264]);
    // "hello" then " t" merged, then single bytes: 'o' = 0x6f → index in the byte table.
    const bytes = byteToUnicode();
    expect(Array.from(tokenizer.encode("hello to", { addSpecialTokens: false }))).toEqual([
      259,
      265,
      bytes.indexOf("o"),
    ]);
  });

  it("knows its special tokens", () => {
    expect(tokenizer.vocabSize).toBe(271);
    expect(tokenizer.bosTokenId).toBe(266);
    expect(tokenizer.eosTokenIds).toEqual([270]);
    expect(tokenizer.tokenToId("<|eot_id|>")).toBe(270);
    expect(tokenizer.tokenToId("nope")).toBeNull();
    expect(Array.from(tokenizer.encode("<|start_header_id|>hello<|eot_id|>", { addSpecialTokens: false }))).toEqual([
      268, 259, 270,
    ]);
  });

  it("round-trips any text through its bytes, spacing and punctuation included", () => {
    for (const text of [
      "hello world",
      "héllo, wörld! 👋 😀",
      "  two  spaces ,  and\ttabs\nnew lines .",
      "日本語のテキスト",
      "it's 12345 o'clock",
    ]) {
      const ids = tokenizer.encode(text, { addSpecialTokens: false });
      expect(tokenizer.decode(ids)).toBe(text);
    }
  });

  it("cleans up spaces before punctuation only when tokenizer_config.json asks, as HF does", () => {
    const cleaning = Tokenizer.fromJson(byteLevelBpe(), { ...tokenizerConfig, clean_up_tokenization_spaces: true });
    const ids = cleaning.encode("well , done .", { addSpecialTokens: false });
    expect(cleaning.decode(ids)).toBe("well, done.");
    expect(tokenizer.decode(ids)).toBe("well , done .");
  });

  it("keeps or skips special tokens on decode", () => {
    const ids = tokenizer.encode("hello world");
    expect(tokenizer.decode(ids)).toBe("<|begin_of_text|>hello world");
    expect(tokenizer.decode(ids, { skipSpecialTokens: true })).toBe("hello world");
    expect(tokenizer.decode([])).toBe("");
    // Ids without a token (a padded embedding's extra rows) are skipped, as HF's decode skips them.
    expect(tokenizer.decode([271])).toBe("");
    expect(tokenizer.decode([259, 271, 100000, 264])).toBe("hello world");
    expect(tokenizer.decode(Int32Array.of(266, 151900, 259), { skipSpecialTokens: true })).toBe("hello");
    expect(() => tokenizer.decode([-1])).toThrowError(RangeError);
    expect(() => tokenizer.decode([1.5])).toThrowError(/not a non-negative integer/);
  });

  it("renders a Llama-3 chat template", () => {
    const messages = [
      { role: "system", content: "Be brief." },
      { role: "user", content: " hello " },
    ];
    expect(tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true })).toBe(
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nhello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    );
    const rendered = tokenizer.applyChatTemplate([{ role: "user", content: "hello" }]);
    expect(rendered).toBe("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhello<|eot_id|>");
    const ids = Array.from(tokenizer.encode(rendered, { addSpecialTokens: false }));
    expect(ids[0]).toBe(266);
    expect(ids.at(-1)).toBe(270);
  });

  it("refuses a chat template when there is none", () => {
    const bare = Tokenizer.fromJson(byteLevelBpe());
    expect(bare.bosTokenId).toBeNull();
    expect(() => bare.applyChatTemplate([{ role: "user", content: "x" }])).toThrowError(ConfigError);
  });
});

describe("Tokenizer on a WordLevel vocabulary", () => {
  const wordLevel = {
    version: "1.0",
    added_tokens: [
      { id: 0, content: "[UNK]", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
    ],
    normalizer: { type: "Lowercase" },
    pre_tokenizer: { type: "Whitespace" },
    post_processor: null,
    decoder: null,
    model: {
      type: "WordLevel",
      vocab: { "[UNK]": 0, the: 1, cat: 2, sat: 3, on: 4, mat: 5, ".": 6 },
      unk_token: "[UNK]",
    },
  };
  const tokenizer = Tokenizer.fromJson(wordLevel);

  it("maps words, lowercases, and sends unknown words to [UNK]", () => {
    expect(Array.from(tokenizer.encode("The cat sat on the mat."))).toEqual([1, 2, 3, 4, 1, 5, 6]);
    expect(Array.from(tokenizer.encode("the dog sat"))).toEqual([1, 0, 3]);
    expect(tokenizer.decode([1, 2, 3])).toBe("the cat sat");
    expect(tokenizer.vocabSize).toBe(7);
  });
});

describe("Tokenizer.load", () => {
  it("reads a folder, takes extra eos ids from generation_config.json, and explains a missing tokenizer.json", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-tokenizer-"));
    try {
      await expect(Tokenizer.load(dir)).rejects.toThrowError(`no tokenizer.json in ${dir} — pass --tokenizer`);
      fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(byteLevelBpe()));
      fs.writeFileSync(
        path.join(dir, "tokenizer_config.json"),
        JSON.stringify({ ...tokenizerConfig, chat_template: undefined, eos_token: { content: "<|end_of_text|>" } }),
      );
      fs.writeFileSync(
        path.join(dir, "chat_template.jinja"),
        "{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}",
      );
      fs.writeFileSync(path.join(dir, "generation_config.json"), JSON.stringify({ eos_token_id: [267, 270] }));
      const tokenizer = await Tokenizer.load(dir);
      expect(tokenizer.eosTokenIds).toEqual([267, 270]);
      expect(tokenizer.applyChatTemplate([{ role: "user", content: "hi" }])).toBe("[user]hi");
      fs.writeFileSync(path.join(dir, "tokenizer.json"), "{ broken");
      await expect(Tokenizer.load(dir)).rejects.toThrowError(/tokenizer\.json: not valid JSON/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
