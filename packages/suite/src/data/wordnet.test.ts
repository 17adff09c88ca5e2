import { describe, expect, it } from "vitest";
import { loadWordNet, parseIndexFile, parseSynsetAt } from "./wordnet.js";

describe("WordNet reader", () => {
  it("reads index entries and synsets of well-known words", () => {
    const wordnet = loadWordNet();
    const dog = wordnet.index.noun.get("dog")!;
    expect(dog.offsets).toHaveLength(7);
    expect(wordnet.synset("noun", dog.offsets[0]).words).toEqual(["dog", "domestic_dog", "Canis_familiaris"]);
    // Pointers lead to the right synsets: dog's first sense is a kind of canine; hot's antonym is cold.
    const hypernym = wordnet.synset("noun", dog.offsets[0]).pointers.find((pointer) => pointer.symbol === "@")!;
    expect(wordnet.synset("noun", hypernym.offset).words[0]).toBe("canine");
    const hot = wordnet.synset("adjective", wordnet.index.adjective.get("hot")!.offsets[0]);
    const antonym = hot.pointers.find((pointer) => pointer.symbol === "!")!;
    expect(wordnet.synset("adjective", antonym.offset).words[antonym.target - 1]).toBe("cold");
    expect(wordnet.index.verb.has("run")).toBe(true);
  });

  it("parses a hand-written index line and synset line", () => {
    const index = parseIndexFile("  1 licence header\ncat n 2 1 @ 2 1 00000010 00000020  \n", "index.test");
    expect(index.get("cat")).toEqual({ lemma: "cat", offsets: [10, 20], taggedSenses: 1 });
    const line = "00000000 05 n 02 cat 0 true_cat(a) 1 001 @ 00000099 n 0102 | a feline  \n";
    const synset = parseSynsetAt(Buffer.from(line, "latin1"), 0, "data.test");
    expect(synset.words).toEqual(["cat", "true_cat"]);
    expect(synset.pointers).toEqual([{ symbol: "@", offset: 99, pos: "n", source: 1, target: 2 }]);
    expect(synset.gloss).toBe("a feline");
  });

  it("names the file and line of malformed input", () => {
    expect(() => parseIndexFile("cat n 3 0 1 1 00000010\n", "index.bad")).toThrow(/index\.bad:1: malformed/);
    expect(() => parseSynsetAt(Buffer.from("00000005 x\n"), 0, "data.bad")).toThrow(
      /data\.bad: no synset starts at byte offset 0/,
    );
    expect(() => parseSynsetAt(Buffer.from("x\n"), 50, "data.bad")).toThrow(/outside the file/);
  });
});
