// The native Q8_0 matrix-vector product against a float64 reference that decodes the same blocks
// by llama.cpp's formula (value = q·d, d the block's f16), on every ISA path this CPU has.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { quantizedMatvecQ8_0 } from "./kernels.js";

function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Random Q8_0 blocks: random codes, scales f16 of about 0.004–0.03 (subnormal and zero scales included). */
function randomMatrix(rows: number, columns: number, seed: number): Uint8Array {
  const bytes = new Uint8Array((rows * columns * 34) / 32);
  let state = seed >>> 0;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state >>> 24;
  };
  for (let i = 0; i < bytes.length; i++) bytes[i] = next();
  for (let block = 0; block < bytes.length / 34; block++) {
    const bits = block % 97 === 0 ? 0 : block % 89 === 0 ? 0x0123 : 0x1c00 | ((next() & 0xf) << 6) | (next() & 0x3f);
    bytes[block * 34] = bits & 0xff;
    bytes[block * 34 + 1] = bits >> 8;
  }
  return bytes;
}

function reference(
  x: Float32Array,
  w: Uint8Array,
  rows: number,
  columns: number,
): { values: Float64Array; scale: Float64Array } {
  const values = new Float64Array(rows);
  const scale = new Float64Array(rows); // Σ |w·x| per row: the size of the rounding error's bound
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < columns / 32; b++) {
      const at = (r * (columns / 32) + b) * 34;
      const d = halfToNumber(w[at] | (w[at + 1] << 8));
      for (let j = 0; j < 32; j++) {
        const term = ((w[at + 2 + j] << 24) >> 24) * d * x[b * 32 + j];
        values[r] += term;
        scale[r] += Math.abs(term);
      }
    }
  }
  return { values, scale };
}

describe("quantizedMatvecQ8_0", () => {
  for (const [rows, columns] of [
    [1, 32],
    [7, 96],
    [256, 768],
    [768, 2048],
  ]) {
    it(`matches the float64 decode of the same blocks (${rows} × ${columns})`, () => {
      const w = randomMatrix(rows, columns, rows * 31 + columns);
      const x = Float32Array.from({ length: columns }, (_, i) => Math.sin(i * 0.7) * 2);
      const out = quantizedMatvecQ8_0(x, w, { rows, columns });
      const { values, scale } = reference(x, w, rows, columns);
      for (let r = 0; r < rows; r++)
        expect(Math.abs(out[r] - values[r]), `row ${r}`).toBeLessThanOrEqual(1e-6 * scale[r] + 1e-30);
    });
  }

  it("is the same on the portable, AVX2 and AVX-512 paths (PILLOW_ISA), within f32 summation order", () => {
    const script = `
      import { quantizedMatvecQ8_0 } from "./dist/index.js";
      const columns = 512, rows = 64, w = new Uint8Array(rows * columns / 32 * 34);
      for (let i = 0; i < w.length; i++) w[i] = (i * 73 + 11) & 255;
      for (let b = 0; b < w.length / 34; b++) { w[b * 34] = 0x00; w[b * 34 + 1] = 0x20; }
      const x = Float32Array.from({ length: columns }, (_, i) => Math.cos(i));
      console.log(JSON.stringify(Array.from(quantizedMatvecQ8_0(x, w, { rows, columns }))));`;
    const results = ["portable", "avx2", "avx512"].map((isa) => {
      const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
        encoding: "utf8",
        env: { ...process.env, PILLOW_ISA: isa },
        cwd: new URL("..", import.meta.url).pathname,
      });
      if (run.status !== 0) throw new Error(`${isa}: ${run.stderr}`);
      return JSON.parse(run.stdout.trim().split("\\n").pop() as string) as number[];
    });
    for (let r = 0; r < results[0].length; r++) {
      expect(Math.abs(results[1][r] - results[0][r])).toBeLessThan(1e-4 * (1 + Math.abs(results[0][r])));
      expect(Math.abs(results[2][r] - results[0][r])).toBeLessThan(1e-4 * (1 + Math.abs(results[0][r])));
    }
  });

  it("checks its arguments before running", () => {
    const w = new Uint8Array(34);
    expect(() => quantizedMatvecQ8_0(new Float32Array(32), w, { rows: 1, columns: 30 })).toThrow(
      expect.objectContaining({ code: "E_SHAPE" }),
    );
    expect(() => quantizedMatvecQ8_0(new Float32Array(32), new Uint8Array(33), { rows: 1, columns: 32 })).toThrow(
      /w has length 33, expected 34/,
    );
    expect(() => quantizedMatvecQ8_0(new Float32Array(31), w, { rows: 1, columns: 32 })).toThrow(/x has length 31/);
    expect(() =>
      quantizedMatvecQ8_0(new Float32Array(32), new Float32Array(34) as unknown as Uint8Array, {
        rows: 1,
        columns: 32,
      }),
    ).toThrow(expect.objectContaining({ code: "E_TYPE" }));
  });
});
