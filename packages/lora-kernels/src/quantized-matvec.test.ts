// The native Q8_0, Q4_0 and Q4_K matrix-vector products against a float64 reference computed here: x
// rounded to Q8_0 by ggml's reference formula (per 32 values d = max|x|/127 in f32, code = round(x/d)
// half away from zero, d stored as f16 rounded to nearest even), then per block the integer sum of
// the code products (W's int8 codes, or its 4-bit codes − 8) times d_w·d_x; for Q4_K, x rounded to
// Q8_K (quantize_row_q8_K_ref: per 256 values iscale = −127/(the value of largest magnitude), code =
// iscale·x rounded to nearest even, scale 1/iscale in f32) and each value (d·sc·q − dmin·m) times its
// code; on every ISA path this CPU has.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { quantizedMatvecQ4_0, quantizedMatvecQ4_K, quantizedMatvecQ8_0 } from "./kernels.js";

function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** A finite, non-negative number rounded to the nearest f16 value (ties to even), as a number. */
function roundToHalf(value: number): number {
  if (value === 0) return 0;
  if (value >= 65520) return Number.POSITIVE_INFINITY;
  // The f16 spacing at this magnitude: 2^(e − 10) for normal numbers (2^e <= value), 2^−24 below 2^−14.
  const exponent = Math.max(Math.floor(Math.log2(value)), -14);
  let ulp = 2 ** (exponent - 10);
  if (2 ** exponent > value) ulp /= 2; // log2 rounded up at a power of two
  const units = value / ulp;
  const floor = Math.floor(units);
  const rest = units - floor;
  const rounded = rest > 0.5 || (rest === 0.5 && floor % 2 === 1) ? floor + 1 : floor;
  return rounded * ulp;
}

/** x in Q8_0: codes and f16 scales (as numbers), per 32 values. */
function quantizeX(x: Float32Array): { codes: Int8Array; scales: Float64Array } {
  const codes = new Int8Array(x.length);
  const scales = new Float64Array(x.length / 32);
  for (let b = 0; b < x.length / 32; b++) {
    let largest = 0;
    for (let j = 0; j < 32; j++) largest = Math.max(largest, Math.abs(x[b * 32 + j]));
    const d = Math.fround(largest / 127);
    const inverse = d ? Math.fround(1 / d) : 0;
    for (let j = 0; j < 32; j++) {
      const scaled = Math.fround(x[b * 32 + j] * inverse);
      codes[b * 32 + j] = Math.sign(scaled) * Math.round(Math.abs(scaled)); // half away from zero
    }
    scales[b] = roundToHalf(d);
  }
  return { codes, scales };
}

/** A block format: its bytes, and code j of the block at byte `at` (value j = code·d). */
type Format = { blockBytes: number; code: (w: Uint8Array, at: number, j: number) => number };
const Q8_0: Format = { blockBytes: 34, code: (w, at, j) => (w[at + 2 + j] << 24) >> 24 }; // the byte as int8
const Q4_0: Format = {
  blockBytes: 18,
  code: (w, at, j) => (j < 16 ? w[at + 2 + j] & 0x0f : w[at + 2 + j - 16] >> 4) - 8,
};

/** Random blocks: random code bytes, scales f16 of about 0.004–0.03 (subnormal and zero scales included). */
function randomMatrix(rows: number, columns: number, seed: number, format = Q8_0): Uint8Array {
  const blockBytes = format.blockBytes;
  const bytes = new Uint8Array((rows * columns * blockBytes) / 32);
  let state = seed >>> 0;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state >>> 24;
  };
  for (let i = 0; i < bytes.length; i++) bytes[i] = next();
  for (let block = 0; block < bytes.length / blockBytes; block++) {
    const bits = block % 97 === 0 ? 0 : block % 89 === 0 ? 0x0123 : 0x1c00 | ((next() & 0xf) << 6) | (next() & 0x3f);
    bytes[block * blockBytes] = bits & 0xff;
    bytes[block * blockBytes + 1] = bits >> 8;
  }
  return bytes;
}

function reference(
  x: Float32Array,
  w: Uint8Array,
  rows: number,
  columns: number,
  format = Q8_0,
): { values: Float64Array; scale: Float64Array } {
  const { codes, scales } = quantizeX(x);
  const values = new Float64Array(rows);
  const scale = new Float64Array(rows); // Σ |d·(4-product sums)| per row: the size of the f32 rounding's bound
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < columns / 32; b++) {
      const at = (r * (columns / 32) + b) * format.blockBytes;
      const d = halfToNumber(w[at] | (w[at + 1] << 8)) * scales[b];
      for (let lane = 0; lane < 8; lane++) {
        let dot = 0;
        for (let j = 4 * lane; j < 4 * lane + 4; j++) dot += format.code(w, at, j) * codes[b * 32 + j];
        values[r] += d * dot;
        scale[r] += Math.abs(d * dot);
      }
    }
  }
  return { values, scale };
}

/**
 * The product of a fixed 64 × 512 matrix of `blockBytes`-byte blocks (f16 scales 0x2000 = 2^-7) with a fixed x,
 * computed by `name` in a child process under PILLOW_ISA=portable, avx2 and avx512.
 */
function resultsOnEveryIsa(
  name: "quantizedMatvecQ8_0" | "quantizedMatvecQ4_0" | "quantizedMatvecQ4_K",
  blockBytes: number,
  blockValues = 32,
): number[][] {
  // Every block's first f16 (d) is 2^-7; a Q4_K super-block's second (dmin) 2^-8.
  const script = `
      import { ${name} } from "./dist/index.js";
      const columns = 512, rows = 64, w = new Uint8Array(rows * columns / ${blockValues} * ${blockBytes});
      for (let i = 0; i < w.length; i++) w[i] = (i * 73 + 11) & 255;
      for (let b = 0; b < w.length / ${blockBytes}; b++) {
        w[b * ${blockBytes}] = 0x00; w[b * ${blockBytes} + 1] = 0x20;
        if (${blockBytes} === 144) { w[b * 144 + 2] = 0x00; w[b * 144 + 3] = 0x1c; }
      }
      const x = Float32Array.from({ length: columns }, (_, i) => Math.cos(i));
      console.log(JSON.stringify(Array.from(${name}(x, w, { rows, columns }))));`;
  return ["portable", "avx2", "avx512"].map((isa) => {
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      encoding: "utf8",
      env: { ...process.env, PILLOW_ISA: isa },
      cwd: new URL("..", import.meta.url).pathname,
    });
    if (run.status !== 0) throw new Error(`${isa}: ${run.stderr}`);
    return JSON.parse(run.stdout.trim().split("\n").pop() as string) as number[];
  });
}

describe("quantizedMatvecQ8_0", () => {
  for (const [rows, columns] of [
    [1, 32],
    [7, 96],
    [256, 768],
    [768, 2048],
  ]) {
    it(`matches float64 sums of the blocks' codes times x's Q8_0 codes (${rows} × ${columns})`, () => {
      const w = randomMatrix(rows, columns, rows * 31 + columns);
      const x = Float32Array.from({ length: columns }, (_, i) => Math.sin(i * 0.7) * 2);
      const out = quantizedMatvecQ8_0(x, w, { rows, columns });
      const { values, scale } = reference(x, w, rows, columns);
      // f32 rounding: d_w·d_x per block, then a chain of columns/32 FMAs per lane and 3 adds.
      const bound = (columns / 32 + 5) * 2 ** -24;
      for (let r = 0; r < rows; r++)
        expect(Math.abs(out[r] - values[r]), `row ${r}`).toBeLessThanOrEqual(bound * scale[r] + 1e-30);
    });
  }

  it("gives a hand-computed block's value", () => {
    // x: max |x| = 2.54 → d = 0.02 (f16 0x251f), codes 127, −50, 25, 1 (0.55), 0 (−0.45); W: d = 0.5,
    // codes 1, −2, 3, 4, 5. Σ code products = 127 + 100 + 75 + 4 = 306.
    const x = new Float32Array(32);
    x.set([2.54, -1, 0.5, 0.011, -0.009]);
    const w = new Uint8Array(34);
    w.set([0x00, 0x38, 1, 0xfe, 3, 4, 5]);
    const [out] = quantizedMatvecQ8_0(x, w, { rows: 1, columns: 32 });
    expect(out).toBe(Math.fround(306 * 0.5 * halfToNumber(0x251f)));
    expect(quantizeX(x).scales[0]).toBe(halfToNumber(0x251f));
  });

  it("is the same on the portable, AVX2 and AVX-512 paths (PILLOW_ISA), bit for bit", () => {
    const results = resultsOnEveryIsa("quantizedMatvecQ8_0", 34);
    // One lane order on every path (native/src/ops/cpu/kernels/q8_0_dot_kernel.h): the same bits.
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).toEqual(results[0]);
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

describe("quantizedMatvecQ4_0", () => {
  for (const [rows, columns] of [
    [1, 32],
    [7, 96],
    [256, 768],
    [768, 2048],
  ]) {
    it(`matches float64 sums of the blocks' 4-bit codes times x's Q8_0 codes (${rows} × ${columns})`, () => {
      const w = randomMatrix(rows, columns, rows * 31 + columns, Q4_0);
      const x = Float32Array.from({ length: columns }, (_, i) => Math.sin(i * 0.7) * 2);
      const out = quantizedMatvecQ4_0(x, w, { rows, columns });
      const { values, scale } = reference(x, w, rows, columns, Q4_0);
      // f32 rounding: d_w·d_x per block, then a chain of columns/32 FMAs per lane and 3 adds.
      const bound = (columns / 32 + 5) * 2 ** -24;
      for (let r = 0; r < rows; r++)
        expect(Math.abs(out[r] - values[r]), `row ${r}`).toBeLessThanOrEqual(bound * scale[r] + 1e-30);
      // Not all zero (the 1 × 32 case is one block whose scale randomMatrix sets to 0): the check compares something.
      if (rows > 1) expect(out.some((value) => Math.abs(value) > 1e-3)).toBe(true);
    });
  }

  it("gives a hand-computed block's value", () => {
    // x as in the Q8_0 case: d_x = 0.02 (f16 0x251f), codes 127, −50, 25, 1, 0 at positions 0..4.
    // W: d = 0.5; qs[0] = 0xbf (value 0 = 15 − 8 = 7, value 16 = 11 − 8 = 3), qs[1] = 0x80 (value 1 =
    // −8), qs[2] = 0x89 (value 2 = 1), qs[3] = 0x88 (0), the rest 0x88 (codes 0).
    // Σ = 7·127 + 8·50 + 1·25 = 1314 (value 16's code meets x = 0).
    const x = new Float32Array(32);
    x.set([2.54, -1, 0.5, 0.011, -0.009]);
    const w = new Uint8Array(18).fill(0x88);
    w.set([0x00, 0x38, 0xbf, 0x80, 0x89]);
    const [out] = quantizedMatvecQ4_0(x, w, { rows: 1, columns: 32 });
    expect(out).toBe(Math.fround(1314 * 0.5 * halfToNumber(0x251f)));
  });

  it("is the same on the portable, AVX2 and AVX-512 paths (PILLOW_ISA), bit for bit", () => {
    const results = resultsOnEveryIsa("quantizedMatvecQ4_0", 18);
    // One lane order on every path (native/src/ops/cpu/kernels/q4_0_dot_kernel.h): the same bits.
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).toEqual(results[0]);
    expect(results[0].some((value) => value !== 0)).toBe(true);
  });

  it("checks its arguments before running", () => {
    const w = new Uint8Array(18);
    expect(() => quantizedMatvecQ4_0(new Float32Array(32), w, { rows: 1, columns: 30 })).toThrow(
      expect.objectContaining({ code: "E_SHAPE" }),
    );
    expect(() => quantizedMatvecQ4_0(new Float32Array(32), new Uint8Array(34), { rows: 1, columns: 32 })).toThrow(
      /w has length 34, expected 18/,
    );
    expect(() => quantizedMatvecQ4_0(new Float32Array(31), w, { rows: 1, columns: 32 })).toThrow(/x has length 31/);
  });
});

/** x in Q8_K (quantize_row_q8_K_ref): codes and f32 scales, per 256 values. */
function quantizeXToQ8_K(x: Float32Array): { codes: Int8Array; scales: Float64Array } {
  const codes = new Int8Array(x.length);
  const scales = new Float64Array(x.length / 256);
  for (let b = 0; b < x.length / 256; b++) {
    let largest = 0;
    let signedLargest = 0;
    for (let j = 0; j < 256; j++) {
      if (Math.abs(x[b * 256 + j]) > largest) {
        largest = Math.abs(x[b * 256 + j]);
        signedLargest = x[b * 256 + j];
      }
    }
    if (largest === 0) continue;
    const inverse = Math.fround(-127 / signedLargest);
    for (let j = 0; j < 256; j++) {
      const scaled = Math.fround(inverse * x[b * 256 + j]);
      const floor = Math.floor(scaled);
      const rest = scaled - floor;
      const nearest = rest > 0.5 || (rest === 0.5 && floor % 2 !== 0) ? floor + 1 : floor; // ties to even
      codes[b * 256 + j] = Math.min(127, nearest);
    }
    scales[b] = Math.fround(1 / inverse);
  }
  return { codes, scales };
}

/** Random Q4_K super-blocks: random scale, min and code bytes; d about 2^-9…2^-8, dmin about 2^-10…2^-9. */
function randomQ4_KMatrix(rows: number, columns: number, seed: number): Uint8Array {
  const bytes = new Uint8Array((rows * columns * 144) / 256);
  let state = seed >>> 0;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state >>> 24;
  };
  for (let i = 0; i < bytes.length; i++) bytes[i] = next();
  for (let block = 0; block < bytes.length / 144; block++) {
    const d = 0x1800 | ((next() & 0x3) << 8) | next();
    const dmin = 0x1400 | ((next() & 0x3) << 8) | next();
    bytes.set([d & 0xff, d >> 8, dmin & 0xff, dmin >> 8], block * 144);
  }
  return bytes;
}

/** Σ over a row of W·x in float64, from the super-blocks' fields as ggml-common.h lays them out. */
function referenceQ4_K(x: Float32Array, w: Uint8Array, rows: number, columns: number) {
  const { codes, scales } = quantizeXToQ8_K(x);
  const values = new Float64Array(rows);
  const scale = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < columns / 256; b++) {
      const at = (r * (columns / 256) + b) * 144;
      const d = halfToNumber(w[at] | (w[at + 1] << 8));
      const dmin = halfToNumber(w[at + 2] | (w[at + 3] << 8));
      const q = w.subarray(at + 4, at + 16);
      for (let v = 0; v < 256; v++) {
        const j = v >> 5;
        const sc = j < 4 ? q[j] & 63 : (q[j + 4] & 15) | ((q[j - 4] >> 6) << 4);
        const m = j < 4 ? q[j + 4] & 63 : (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        const byte = w[at + 16 + 32 * (v >> 6) + (v & 31)];
        const code = (v & 63) < 32 ? byte & 15 : byte >> 4;
        const term = (d * sc * code - dmin * m) * codes[b * 256 + v] * scales[b];
        values[r] += term;
        scale[r] += Math.abs(term);
      }
    }
  }
  return { values, scale };
}

describe("quantizedMatvecQ4_K", () => {
  for (const [rows, columns] of [
    [1, 256],
    [7, 512],
    [256, 768],
    [300, 2048],
  ]) {
    it(`matches float64 sums of the super-blocks' values times x's Q8_K codes (${rows} × ${columns})`, () => {
      const w = randomQ4_KMatrix(rows, columns, rows * 31 + columns);
      const x = Float32Array.from({ length: columns }, (_, i) => Math.sin(i * 0.7) * 2);
      const out = quantizedMatvecQ4_K(x, w, { rows, columns });
      const { values, scale } = referenceQ4_K(x, w, rows, columns);
      // f32 rounding: float() of two int32 sums per super-block, d_x·d once each, two FMA chains, one subtraction.
      const bound = (2 * (columns / 256) + 4) * 2 ** -23;
      for (let r = 0; r < rows; r++)
        expect(Math.abs(out[r] - values[r]), `row ${r}`).toBeLessThanOrEqual(bound * scale[r] + 1e-30);
      expect(out.some((value) => Math.abs(value) > 1e-3)).toBe(true);
    });
  }

  it("gives a hand-computed super-block's value", () => {
    // x: 2 at position 0 (the largest: code −127 after iscale = −63.5, scale −1/63.5), −1 at 33
    // (code 63.5 → 64, ties to even), 0.5 at 170 (code −31.75 → −32), 0 elsewhere.
    // W: d = 1, dmin = 0.5; every scale 2 and min 3, except sub-block 5 (scale 37, min 50); codes 0
    // except value 0 = 15, value 33 = 1 and value 170 = 9.
    //   products = 2·15·(−127) + 2·1·64 + 37·9·(−32) = −3810 + 128 − 10656 = −14338
    //   offsets  = 3·(−127) + 3·64 + 50·(−32) = −381 + 192 − 1600 = −1789
    //   value = (−1/63.5)·(−14338) − (−1/63.5)·0.5·(−1789) = (14338 − 894.5)/63.5 (in f32 steps)
    const x = new Float32Array(256);
    x[0] = 2;
    x[33] = -1;
    x[170] = 0.5;
    const w = new Uint8Array(144);
    w.set([0x00, 0x3c, 0x00, 0x38], 0);
    const scales = [2, 2, 2, 2, 2, 37, 2, 2];
    const mins = [3, 3, 3, 3, 3, 50, 3, 3];
    for (let j = 0; j < 4; j++) {
      w[4 + j] = scales[j] | ((scales[j + 4] >> 4) << 6);
      w[8 + j] = mins[j] | ((mins[j + 4] >> 4) << 6);
      w[12 + j] = (scales[j + 4] & 15) | ((mins[j + 4] & 15) << 4);
    }
    w[16 + 0] = 15; // value 0: low nibble of qs[0]
    w[16 + 1] = 1 << 4; // value 33: high nibble of qs[1]
    w[16 + 64 + 10] = 9 << 4; // value 170 = 128 + 32 + 10: high nibble of qs[64 + 10]
    const [out] = quantizedMatvecQ4_K(x, w, { rows: 1, columns: 256 });
    const f = Math.fround;
    const xScale = f(1 / f(-127 / 2));
    expect(out).toBe(f(f(xScale * -14338) - f(f(xScale * 0.5) * -1789)));
  });

  it("is the same on the portable, AVX2 and AVX-512 paths (PILLOW_ISA), bit for bit", () => {
    const results = resultsOnEveryIsa("quantizedMatvecQ4_K", 144, 256);
    // One order of f32 steps on every path (native/src/ops/cpu/kernels/q4_k_dot_kernel.h): the same bits.
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).toEqual(results[0]);
    expect(results[0].some((value) => value !== 0)).toBe(true);
  });

  it("checks its arguments before running", () => {
    const w = new Uint8Array(144);
    expect(() => quantizedMatvecQ4_K(new Float32Array(96), w, { rows: 1, columns: 96 })).toThrow(
      expect.objectContaining({ code: "E_SHAPE", message: expect.stringMatching(/multiple of 256/) }),
    );
    expect(() => quantizedMatvecQ4_K(new Float32Array(256), new Uint8Array(34), { rows: 1, columns: 256 })).toThrow(
      /w has length 34, expected 144/,
    );
    expect(() => quantizedMatvecQ4_K(new Float32Array(255), w, { rows: 1, columns: 256 })).toThrow(/x has length 255/);
  });
});
