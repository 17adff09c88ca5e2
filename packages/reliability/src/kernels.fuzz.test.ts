// Kernel entry points with random shapes, lengths and types: a correct result (checked against the
// TS reference) or an error with a stable code, never a crash of the process.
import { matmul, referenceMatmul } from "@pillow/lora-kernels";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { recordFuzzCases } from "./fuzz-count.js";

const knownCodes = new Set(["E_SHAPE", "E_TYPE", "E_ARGUMENT"]);

describe("kernel arguments under fuzzing", () => {
  it("matmul: random shapes and lengths give the reference result or a coded error", () => {
    const runs = 2000;
    const dimension = fc.oneof(
      fc.integer({ min: 1, max: 24 }),
      fc.constantFrom(0, -1, 1.5, Number.NaN, 2 ** 31, 2 ** 40),
    );
    fc.assert(
      fc.property(
        dimension,
        dimension,
        dimension,
        fc.integer({ min: -2, max: 2 }),
        fc.integer({ min: -2, max: 2 }),
        (tokens, inFeatures, outFeatures, xSlack, wSlack) => {
          const valid = [tokens, inFeatures, outFeatures].every((d) => Number.isInteger(d) && d >= 1 && d < 2 ** 31);
          const xLength = valid ? Math.max(0, tokens * inFeatures + xSlack) : 4;
          const wLength = valid ? Math.max(0, outFeatures * inFeatures + wSlack) : 4;
          if (valid && xLength * 4 + wLength * 4 > 64 * 1024 * 1024) return; // keep memory bounded
          const x = Float32Array.from({ length: xLength }, (_, i) => ((i * 7) % 13) / 13 - 0.5);
          const w = Float32Array.from({ length: wLength }, (_, i) => ((i * 5) % 11) / 11 - 0.5);
          const shape = { tokens, inFeatures, outFeatures };
          try {
            const y = matmul(x, w, shape);
            expect(valid && xSlack === 0 && wSlack === 0).toBe(true);
            const expected = referenceMatmul(x, w, shape);
            for (let i = 0; i < y.length; i++)
              expect(Math.abs(y[i] - expected[i])).toBeLessThan(1e-4 * (1 + Math.abs(expected[i])));
          } catch (error) {
            const code = (error as { code?: string }).code ?? "";
            if (!knownCodes.has(code)) throw error;
            expect(valid && xSlack === 0 && wSlack === 0 && xLength > 0).toBe(false);
          }
        },
      ),
      { numRuns: runs, seed: 5 },
    );
    recordFuzzCases("matmul arguments", runs);
  });

  it("matmul: non-typed-array arguments are refused with E_TYPE", () => {
    const runs = 300;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.constant(undefined),
          fc.constant(null),
          fc.integer(),
          fc.string(),
          fc.array(fc.double(), { maxLength: 4 }),
          fc.constant(new Float64Array(4)),
          fc.constant(new Int32Array(4)),
        ),
        (bad) => {
          const shape = { tokens: 2, inFeatures: 2, outFeatures: 2 };
          expect(() => matmul(bad as unknown as Float32Array, new Float32Array(4), shape)).toThrowError(
            expect.objectContaining({ code: "E_TYPE" }),
          );
          expect(() => matmul(new Float32Array(4), bad as unknown as Float32Array, shape)).toThrowError(
            expect.objectContaining({ code: "E_TYPE" }),
          );
        },
      ),
      { numRuns: runs, seed: 6 },
    );
    recordFuzzCases("matmul argument types", runs);
  });
});
