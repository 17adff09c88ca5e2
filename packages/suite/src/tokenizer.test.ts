import { Template } from "@huggingface/jinja";
import { Tokenizer } from "@huggingface/tokenizers";
import { describe, expect, it } from "vitest";
import { formatDemonstration, formatPrompt } from "./prompt.js";
import {
  bosTokenId,
  buildByteTokenizerJson,
  buildTokenizerConfigJson,
  byteTokenizerVocabSize,
  byteToUnicode,
  tinyChatTemplate,
} from "./tokenizer.js";

const tokenizer = new Tokenizer(buildByteTokenizerJson() as any, buildTokenizerConfigJson() as any);

describe("byte-level tokenizer.json", () => {
  it("has one symbol per byte, all distinct, matching GPT-2's published table at known points", () => {
    const table = byteToUnicode();
    expect(new Set(table).size).toBe(256);
    expect(table[" ".charCodeAt(0)]).toBe("\u0120"); // "Ġ"
    expect(table[10]).toBe("\u010a"); // "Ċ"
    expect(table["A".charCodeAt(0)]).toBe("A");
    expect(byteTokenizerVocabSize).toBe(259);
  });

  it("encodes through @huggingface/tokenizers as <s> followed by 3 + each byte, and round-trips", () => {
    const samples = [
      "Hello World",
      formatPrompt({ instruction: "Answer.", input: "x=3; x+=2; print x" }),
      "tabs\tand\nnewlines  double  spaces ~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./",
      " leading and trailing ",
    ];
    for (const text of samples) {
      const encoded = tokenizer.encode(text);
      const expected = [bosTokenId, ...Buffer.from(text, "utf8").map((byte) => 3 + byte)];
      expect(encoded.ids).toEqual(expected);
      expect(tokenizer.decode(encoded.ids, { skip_special_tokens: true })).toBe(text);
    }
    const allAscii = String.fromCharCode(...Array.from({ length: 127 }, (_, i) => i + 1));
    expect(tokenizer.decode(tokenizer.encode(allAscii).ids, { skip_special_tokens: true })).toBe(allAscii);
  });

  it("has a chat template that renders the same blocks as formatPrompt", () => {
    const rendered = new Template(tinyChatTemplate).render({
      messages: [
        { role: "user", content: "Pluralize: cat" },
        { role: "assistant", content: "cats" },
        { role: "user", content: "Pluralize: dog" },
      ],
    });
    expect(rendered).toBe(
      formatDemonstration({ instruction: "Pluralize: cat", input: "", output: "cats" }) +
        formatPrompt({ instruction: "Pluralize: dog" }),
    );
  });
});
