// The sampler through its public TS API with hostile options and logits (NaN, Inf, negative, huge):
// a token id inside [0, vocab) with a finite log-probability <= 0, or a coded error.
import { sample } from "@pillow/lora-kernels";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { recordFuzzCases } from "./fuzz-count.js";

const hostileNumber = fc.oneof(
  fc.double({ min: -3, max: 3, noNaN: true }),
  fc.constantFrom(
    0,
    1,
    -1,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    1e-45,
    1e38,
    -1e38,
    2 ** 31,
  ),
  fc.integer({ min: -5, max: 400 }),
);
const knownCodes = new Set(["E_SHAPE", "E_TYPE", "E_ARGUMENT", "E_NONFINITE_LOGITS"]);

describe("sampler under fuzzing", () => {
  it("hostile options, logits and histories never produce an invalid token", () => {
    const runs = 3000;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 64 }),
        fc.record(
          {
            temperature: hostileNumber,
            topK: hostileNumber,
            topP: hostileNumber,
            minP: hostileNumber,
            repetitionPenalty: hostileNumber,
            frequencyPenalty: hostileNumber,
            presencePenalty: hostileNumber,
          },
          { requiredKeys: [] },
        ),
        fc.array(fc.oneof(fc.double({ min: -50, max: 50, noNaN: true }), hostileNumber), {
          minLength: 1,
          maxLength: 192,
        }),
        fc.array(fc.integer({ min: -2, max: 70 }), { maxLength: 6 }),
        fc.oneof(fc.nat(), fc.constant(undefined)),
        (rows, vocab, options, logitPool, history, seed) => {
          const logits = Float32Array.from({ length: rows * vocab }, (_, i) => logitPool[i % logitPool.length]);
          const previousTokens = Array.from({ length: rows }, () => Int32Array.from(history));
          try {
            const { tokens, logprobs } = sample(logits, { rows, vocab }, { ...options, previousTokens, seed });
            expect(tokens.length).toBe(rows);
            for (let row = 0; row < rows; row++) {
              expect(tokens[row] >= 0 && tokens[row] < vocab).toBe(true);
              expect(Number.isFinite(logprobs[row]) && logprobs[row] <= 1e-6).toBe(true);
            }
          } catch (error) {
            const code = (error as { code?: string }).code ?? "";
            if (!knownCodes.has(code)) throw error;
            expect((error as Error).message.length).toBeGreaterThan(0);
          }
        },
      ),
      { numRuns: runs, seed: 31 },
    );
    recordFuzzCases("sampler options and logits", runs);
  });
});
