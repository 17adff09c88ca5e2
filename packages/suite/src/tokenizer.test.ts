import { Template } from "@huggingface/jinja";
import { Tokenizer } from "@huggingface/tokenizers";
import { describe, expect, it } from "vitest";
import { formatDemonstration, formatPrompt } from "@pillow/core";
import {
  bosTokenId,
  buildByteTokenizerJson,
  buildTokenizerConfigJson,
  byteTokenizerVocabSize,
  eosTokenId,
  padTokenId,
  tinyChatTemplate,
} from "./tokenizer.js";

const tokenizer = new Tokenizer(buildByteTokenizerJson() as any, buildTokenizerConfigJson() as any);

describe("byte-level tokenizer.json", () => {
  it("has one vocabulary symbol per byte (GPT-2's byte table) plus three special tokens", () => {
    const vocab = (buildByteTokenizerJson().model as { vocab: Record<string, number> }).vocab;
    expect(Object.keys(vocab)).toHaveLength(256);
    expect(new Set(Object.values(vocab)).size).toBe(256);
    expect(vocab["\u0120"]).toBe(32); // "Ġ" is the space byte
    expect(vocab["\u010a"]).toBe(10); // "Ċ" is the newline byte
    expect(vocab.A).toBe(65);
    expect([bosTokenId, eosTokenId, padTokenId]).toEqual([256, 257, 258]);
    expect(byteTokenizerVocabSize).toBe(259);
  });

  it("encodes through @huggingface/tokenizers as <s> followed by each byte, and round-trips", () => {
    const samples = [
      "Hello World",
      formatPrompt({ instruction: "Answer.", input: "x=3; x+=2; print x" }),
      "tabs\tand\nnewlines  double  spaces ~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./",
      " leading and trailing ",
    ];
    for (const text of samples) {
      const encoded = tokenizer.encode(text);
      const expected = [bosTokenId, ...Buffer.from(text, "utf8")];
      expect(encoded.ids).toEqual(expected);
      expect(tokenizer.decode(encoded.ids, { skip_special_tokens: true })).toBe(text);
    }
    const allAscii = String.fromCharCode(...Array.from({ length: 127 }, (_, i) => i + 1));
    expect(tokenizer.decode(tokenizer.encode(allAscii).ids, { skip_special_tokens: true })).toBe(allAscii);
  });

  it("has a chat template that renders the same blocks as formatPrompt", () => {
    const rendered = new Template(tinyChatTemplate).render({
      bos_token: "<s>",
      messages: [
        { role: "user", content: "Pluralize: cat" },
        { role: "assistant", content: "cats" },
        { role: "user", content: "Pluralize: dog" },
      ],
    });
    expect(rendered).toBe(
      "<s>" +
        formatDemonstration({ instruction: "Pluralize: cat", input: "", output: "cats" }) +
        formatPrompt({ instruction: "Pluralize: dog" }),
    );
  });
});
