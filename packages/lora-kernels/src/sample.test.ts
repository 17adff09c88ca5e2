import { describe, expect, it } from "vitest";
import {
  type ReferenceSamplingOptions,
  referenceSample,
  referenceSamplingDistribution,
  referenceUniform,
  type SamplingOptions,
  sample,
  sampleAsync,
} from "./index.js";
import { randomArray, seededRandom } from "./test-utils.js";

/** `rows` copies of one row of logits. */
function tile(row: Float32Array, rows: number): Float32Array {
  const out = new Float32Array(row.length * rows);
  for (let r = 0; r < rows; r++) out.set(row, r * row.length);
  return out;
}

/** Upper critical value of chi-square with `df` degrees of freedom at p = 0.001 (Wilson–Hilferty). */
function chiSquareCritical(df: number): number {
  const z = 3.0902; // standard normal 0.999 quantile
  const c = 2 / (9 * df);
  return df * (1 - c + z * Math.sqrt(c)) ** 3;
}

function counts(tokens: Int32Array, vocab: number): number[] {
  const histogram = new Array<number>(vocab).fill(0);
  for (const token of tokens) histogram[token] += 1;
  return histogram;
}

const vocab = 24;
const logitRow = randomArray(vocab, seededRandom(21)).map((v) => v * 3);

describe("sample", () => {
  it("with temperature 0 is the argmax (lowest id on ties) with logprob 0", () => {
    const random = seededRandom(2);
    const rows = 50;
    const logits = randomArray(rows * 1000, random);
    logits[3 * 1000 + 10] = 5;
    logits[3 * 1000 + 20] = 5;
    const { tokens, logprobs } = sample(logits, { rows, vocab: 1000 }, { temperature: 0 });
    for (let r = 0; r < rows; r++) {
      const row = logits.subarray(r * 1000, (r + 1) * 1000);
      expect(tokens[r]).toBe(row.indexOf(Math.max(...row)));
      expect(logprobs[r]).toBe(0);
    }
    expect(tokens[3]).toBe(10);
  });

  const filterCases: [string, SamplingOptions][] = [
    ["plain", {}],
    ["temperature 0.6", { temperature: 0.6 }],
    ["temperature 1.7", { temperature: 1.7 }],
    ["top-k 5", { topK: 5 }],
    ["top-p 0.7", { topP: 0.7 }],
    ["min-p 0.08", { minP: 0.08 }],
    ["all together", { temperature: 1.3, topK: 12, topP: 0.9, minP: 0.02 }],
  ];
  for (const [name, options] of filterCases) {
    it(`fits the exact filtered distribution (chi-square, p = 0.001): ${name}`, () => {
      const draws = 20000;
      const { tokens } = sample(tile(logitRow, draws), { rows: draws, vocab }, { ...options, seed: 1000 });
      const [probabilities] = referenceSamplingDistribution(logitRow, { rows: 1, vocab }, options);
      const histogram = counts(tokens, vocab);
      let chiSquare = 0;
      let support = 0;
      for (let i = 0; i < vocab; i++) {
        if (probabilities[i] === 0) {
          expect(histogram[i], `token ${i} is outside the filtered support`).toBe(0);
          continue;
        }
        support += 1;
        const expected = probabilities[i] * draws;
        chiSquare += (histogram[i] - expected) ** 2 / expected;
      }
      expect(support).toBeGreaterThan(1);
      expect(chiSquare).toBeLessThan(chiSquareCritical(support - 1));
    });
  }

  it("never draws outside the nucleus in 10^5 draws (top-p, top-k, min-p)", () => {
    const wide = 512;
    const row = randomArray(wide, seededRandom(5)).map((v) => v * 4);
    for (const options of [{ topP: 0.5 }, { topK: 3 }, { minP: 0.3, temperature: 0.8 }] as SamplingOptions[]) {
      const [probabilities] = referenceSamplingDistribution(row, { rows: 1, vocab: wide }, options);
      const nucleus = new Set<number>();
      for (let i = 0; i < wide; i++) if (probabilities[i] > 0) nucleus.add(i);
      const rows = 1000;
      const logits = tile(row, rows);
      const seen = new Set<number>();
      for (let batch = 0; batch < 100; batch++) {
        const { tokens } = sample(logits, { rows, vocab: wide }, { ...options, seed: batch * rows });
        for (const token of tokens) {
          if (!nucleus.has(token)) throw new Error(`token ${token} outside the nucleus for ${JSON.stringify(options)}`);
          seen.add(token);
        }
      }
      expect(seen.size).toBe(nucleus.size);
    }
  });

  it("draws the same token as the sort-based reference for the same seed, with the same logprob", () => {
    const random = seededRandom(31);
    const rows = 400;
    const width = 300;
    const logits = randomArray(rows * width, random).map((v) => v * 5);
    const seeds = Array.from({ length: rows }, (_, r) => r * 7919 + 13);
    const options: ReferenceSamplingOptions = { temperature: 0.9, topK: 40, topP: 0.85, minP: 0.01 };
    const native = sample(logits, { rows, vocab: width }, { ...options, seed: seeds });
    const reference = referenceSample(logits, { rows, vocab: width }, { ...options, seeds });
    let same = 0;
    for (let r = 0; r < rows; r++) {
      if (native.tokens[r] === reference.tokens[r]) {
        same += 1;
        expect(Math.abs(native.logprobs[r] - reference.logprobs[r])).toBeLessThan(1e-5);
      }
    }
    // exp() in f32 (native) and f64 (JS) may differ in the last bit, which can move a draw that lands
    // within ~1e-7 of a boundary; anything beyond that would be a real difference.
    expect(same).toBeGreaterThanOrEqual(rows - 1);
  });

  it("is reproducible by seed; a number seed gives row r the seed + r", () => {
    const rows = 64;
    const logits = tile(logitRow, rows);
    const first = sample(logits, { rows, vocab }, { seed: 42 });
    const again = sample(logits, { rows, vocab }, { seed: 42 });
    const explicit = sample(logits, { rows, vocab }, { seed: Array.from({ length: rows }, (_, r) => 42 + r) });
    const other = sample(logits, { rows, vocab }, { seed: 43 });
    expect(Array.from(again.tokens)).toEqual(Array.from(first.tokens));
    expect(Array.from(explicit.tokens)).toEqual(Array.from(first.tokens));
    expect(Array.from(other.tokens.subarray(0, rows - 1))).toEqual(Array.from(first.tokens.subarray(1)));
    expect(Array.from(other.tokens)).not.toEqual(Array.from(first.tokens));
    // The random stream itself: splitmix64 of the seed, 53 bits.
    expect(referenceUniform(0)).toBeCloseTo(Number(0xe220a8397b1dcdafn >> 11n) / 2 ** 53, 15);
  });

  it("applies penalties as hand-computed", () => {
    // logits [2, -1, 0.5, 1.9]; history: token 0 twice, token 1 once.
    // repetition 2: t0 2/2 = 1, t1 -1·2 = -2; frequency 0.25: t0 1 - 0.5 = 0.5, t1 -2.25;
    // presence 0.1: t0 0.4, t1 -2.35. Greedy now picks token 3 (1.9), not token 0.
    const logits = new Float32Array([2, -1, 0.5, 1.9]);
    const options = {
      repetitionPenalty: 2,
      frequencyPenalty: 0.25,
      presencePenalty: 0.1,
      previousTokens: [Int32Array.from([0, 1, 0])],
    };
    expect(sample(logits, { rows: 1, vocab: 4 }, { temperature: 0 }).tokens[0]).toBe(0);
    expect(sample(logits, { rows: 1, vocab: 4 }, { ...options, temperature: 0 }).tokens[0]).toBe(3);
    const penalised = [0.4, -2.35, 0.5, 1.9];
    const logTotal = Math.log(penalised.reduce((sum, v) => sum + Math.exp(v), 0));
    for (let seed = 0; seed < 20; seed++) {
      const { tokens, logprobs } = sample(logits, { rows: 1, vocab: 4 }, { ...options, seed });
      expect(logprobs[0]).toBeCloseTo(penalised[tokens[0]] - logTotal, 5);
    }
    // A negative repetition-penalised logit is multiplied: -1 with penalty 3 -> -3, below 0.5 - 3 = ...
    const two = new Float32Array([-1, -2]);
    const greedy = sample(
      two,
      { rows: 1, vocab: 2 },
      { temperature: 0, repetitionPenalty: 3, previousTokens: [Int32Array.from([0])] },
    );
    expect(greedy.tokens[0]).toBe(1); // -1·3 = -3 < -2
  });

  it("rejects NaN and ±Infinity logits with E_NONFINITE_LOGITS naming row and index", async () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const logits = tile(logitRow, 3);
      logits[2 * vocab + 5] = bad;
      expect(() => sample(logits, { rows: 3, vocab }, { seed: 1 })).toThrowError(
        expect.objectContaining({ code: "E_NONFINITE_LOGITS", message: expect.stringContaining("row 2") }),
      );
      expect(() => sample(logits, { rows: 3, vocab }, { temperature: 0 })).toThrowError(
        expect.objectContaining({ code: "E_NONFINITE_LOGITS", message: expect.stringContaining("index 5") }),
      );
      await expect(sampleAsync(logits, { rows: 3, vocab }, { seed: 1 })).rejects.toMatchObject({
        code: "E_NONFINITE_LOGITS",
      });
    }
  });

  it("rejects wrong lengths with E_SHAPE and bad options with E_ARGUMENT", () => {
    const logits = tile(logitRow, 2);
    const shape = { rows: 2, vocab };
    const expectCode = (call: () => unknown, code: string, text: string) =>
      expect(call).toThrowError(expect.objectContaining({ code, message: expect.stringContaining(text) }));
    expectCode(() => sample(logits.subarray(1), shape), "E_SHAPE", "logits has length 47, expected 48");
    expectCode(() => sample(logits, shape, { seed: [1] }), "E_SHAPE", "options.seed has length 1, expected 2");
    expectCode(
      () => sample(logits, shape, { previousTokens: [new Int32Array(1)] }),
      "E_SHAPE",
      "options.previousTokens",
    );
    expectCode(() => sample(logits, shape, { topP: 0 }), "E_ARGUMENT", "topP");
    expectCode(() => sample(logits, shape, { temperature: -1 }), "E_ARGUMENT", "temperature");
    expectCode(() => sample(logits, shape, { minP: 2 }), "E_ARGUMENT", "minP");
    expectCode(() => sample(logits, shape, { topK: 1.5 }), "E_ARGUMENT", "topK");
    expectCode(() => sample(logits, shape, { seed: -1 }), "E_ARGUMENT", "options.seed");
    expectCode(
      () => sample(logits, shape, { previousTokens: [Int32Array.from([vocab]), new Int32Array(0)] }),
      "E_ARGUMENT",
      "options.previousTokens[0][0] = 24",
    );
    expectCode(() => sample(logits, { rows: 0, vocab }), "E_SHAPE", "shape.rows");
  });

  it("sampleAsync gives the same draws", async () => {
    const rows = 16;
    const logits = tile(logitRow, rows);
    const viaAsync = await sampleAsync(logits, { rows, vocab }, { seed: 9, topP: 0.9 });
    const sync = sample(logits, { rows, vocab }, { seed: 9, topP: 0.9 });
    expect(Array.from(viaAsync.tokens)).toEqual(Array.from(sync.tokens));
    expect(Array.from(viaAsync.logprobs)).toEqual(Array.from(sync.logprobs));
  });
});
