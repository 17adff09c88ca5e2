// StreamedText against the plain reference: the whole prefix decoded at every step (what the decode
// loops did before the incremental window), on random token streams that split UTF-8 sequences,
// hit special tokens and cross stop strings.
import { describe, expect, it } from "vitest";
import { Random } from "./random.js";
import { StreamedText } from "./streamed-text.js";
import { byteLevelBpe } from "./test-tokenizers.js";
import { Tokenizer } from "./tokenizer.js";

const tokenizer = Tokenizer.fromJson(byteLevelBpe());
const decode = (ids: number[]) => tokenizer.decode(ids, { skipSpecialTokens: true });

/** Random ids: ASCII letters and spaces mostly, bytes of multi-byte characters, merges and specials. */
function randomIds(random: Random, length: number): number[] {
  const ids: number[] = [];
  while (ids.length < length) {
    const roll = random.next();
    // Byte-level ids are the bytes themselves (ids 0-255), so a character's UTF-8 bytes are its ids.
    if (roll < 0.15) ids.push(...Buffer.from(["é", "€", "𝄞", "ß"][Math.floor(random.next() * 4)], "utf8"));
    else if (roll < 0.2)
      ids.push(259 + Math.floor(random.next() * 12)); // merges and special tokens
    else ids.push(tokenizer.encode("abcdefgh ."[Math.floor(random.next() * 10)], { addSpecialTokens: false })[0]);
  }
  return ids.slice(0, length);
}

describe("StreamedText", () => {
  it("sends exactly the text the whole decode gives, incrementally, with no stop strings", () => {
    const random = new Random(1);
    for (let trial = 0; trial < 80; trial++) {
      const ids = randomIds(random, 1 + Math.floor(random.next() * 60));
      const text = new StreamedText(tokenizer, []);
      let sent = "";
      for (let n = 1; n <= ids.length; n++) {
        const step = text.update(ids.slice(0, n));
        expect(step.stopped).toBe(false);
        sent += step.delta;
        // Never ahead of the reference, never an incomplete character.
        expect(decode(ids.slice(0, n)).startsWith(sent)).toBe(true);
        expect(sent.endsWith("\uFFFD")).toBe(false);
      }
      sent += text.flush();
      expect(sent).toBe(decode(ids));
      expect(text.value).toBe(decode(ids));
    }
  });

  it("ends at the first stop string as the whole-decode reference does, never sending any of it", () => {
    const random = new Random(2);
    let stoppedTrials = 0;
    for (let trial = 0; trial < 80; trial++) {
      const ids = randomIds(random, 40);
      const stops = [" .", "hg", "€a"];
      // Reference: decode the prefix at each step; stop at the first step whose text holds a stop.
      let expected = decode(ids);
      let stoppedAt = -1;
      for (let n = 1; n <= ids.length && stoppedAt < 0; n++) {
        const full = decode(ids.slice(0, n));
        const at = Math.min(...stops.map((stop) => full.indexOf(stop)).filter((index) => index >= 0));
        if (Number.isFinite(at)) {
          expected = full.slice(0, at);
          stoppedAt = n;
        }
      }
      const text = new StreamedText(tokenizer, stops);
      let sent = "";
      let stopped = false;
      for (let n = 1; n <= ids.length && !stopped; n++) {
        const step = text.update(ids.slice(0, n));
        sent += step.delta;
        stopped = step.stopped;
        if (stopped) expect(n).toBe(stoppedAt);
        for (const stop of stops) expect(sent).not.toContain(stop);
      }
      sent += text.flush();
      if (stopped) stoppedTrials++;
      expect(stopped).toBe(stoppedAt >= 0);
      expect(sent).toBe(expected);
      expect(text.value).toBe(expected);
    }
    expect(stoppedTrials).toBeGreaterThan(10);
  });
});
