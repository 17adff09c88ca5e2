// Plain TypeScript references for the native ops: slow, obvious, and used by the tests as the
// independent check of every optimised kernel. Accumulation is in f64.
import type { LoraAdapter, LoraShape, MatmulShape, SampleShape } from "./AddonTypes.js";
import type { SamplingOptions } from "./sample.js";

/** y[T,out] = x[T,in]·w[out,in]ᵀ */
export function referenceMatmul(x: Float32Array, w: Float32Array, shape: MatmulShape): Float32Array {
  const { tokens, inFeatures, outFeatures } = shape;
  const y = new Float32Array(tokens * outFeatures);
  for (let t = 0; t < tokens; t++) {
    for (let o = 0; o < outFeatures; o++) {
      let acc = 0;
      for (let k = 0; k < inFeatures; k++) acc += x[t * inFeatures + k] * w[o * inFeatures + k];
      y[t * outFeatures + o] = acc;
    }
  }
  return y;
}

/** y[T,out] = x·Wᵀ + scale·(x·Aᵀ)·Bᵀ, with W given as f32 (widen bf16 with fromBf16 first). */
export function referenceLoraMatmul(
  x: Float32Array,
  w: Float32Array,
  a: Float32Array,
  b: Float32Array,
  shape: LoraShape,
  scale: number,
): Float32Array {
  const { tokens, inFeatures, outFeatures, rank } = shape;
  const y = new Float32Array(tokens * outFeatures);
  const u = new Float64Array(rank);
  for (let t = 0; t < tokens; t++) {
    const xRow = t * inFeatures;
    for (let j = 0; j < rank; j++) {
      let acc = 0;
      for (let k = 0; k < inFeatures; k++) acc += x[xRow + k] * a[j * inFeatures + k];
      u[j] = acc;
    }
    for (let o = 0; o < outFeatures; o++) {
      let base = 0;
      for (let k = 0; k < inFeatures; k++) base += x[xRow + k] * w[o * inFeatures + k];
      let low = 0;
      for (let j = 0; j < rank; j++) low += u[j] * b[o * rank + j];
      y[t * outFeatures + o] = base + scale * low;
    }
  }
  return y;
}

/** dx = dy·W + s·(dy·B)·A, da = s·(dy·B)ᵀ·x, db = s·dyᵀ·(x·Aᵀ), by the definitions, in f64. */
export function referenceLoraMatmulBackward(
  dy: Float32Array,
  x: Float32Array,
  w: Float32Array,
  a: Float32Array,
  b: Float32Array,
  shape: LoraShape,
  scale: number,
): { dx: Float32Array; da: Float32Array; db: Float32Array } {
  const { tokens: T, inFeatures: I, outFeatures: O, rank: R } = shape;
  const g = new Float64Array(T * R); // dy·B
  const u = new Float64Array(T * R); // x·Aᵀ
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < R; j++) {
      let gAcc = 0;
      for (let o = 0; o < O; o++) gAcc += dy[t * O + o] * b[o * R + j];
      g[t * R + j] = gAcc;
      let uAcc = 0;
      for (let k = 0; k < I; k++) uAcc += x[t * I + k] * a[j * I + k];
      u[t * R + j] = uAcc;
    }
  }
  const dx = new Float32Array(T * I);
  for (let t = 0; t < T; t++) {
    for (let k = 0; k < I; k++) {
      let acc = 0;
      for (let o = 0; o < O; o++) acc += dy[t * O + o] * w[o * I + k];
      let low = 0;
      for (let j = 0; j < R; j++) low += g[t * R + j] * a[j * I + k];
      dx[t * I + k] = acc + scale * low;
    }
  }
  const da = new Float32Array(R * I);
  for (let j = 0; j < R; j++) {
    for (let k = 0; k < I; k++) {
      let acc = 0;
      for (let t = 0; t < T; t++) acc += g[t * R + j] * x[t * I + k];
      da[j * I + k] = scale * acc;
    }
  }
  const db = new Float32Array(O * R);
  for (let o = 0; o < O; o++) {
    for (let j = 0; j < R; j++) {
      let acc = 0;
      for (let t = 0; t < T; t++) acc += dy[t * O + o] * u[t * R + j];
      db[o * R + j] = scale * acc;
    }
  }
  return { dx, da, db };
}

/** Multi-adapter forward, one row at a time through referenceLoraMatmul. */
export function referenceLoraMatmulMulti(
  x: Float32Array,
  w: Float32Array,
  adapters: LoraAdapter[],
  adapterIndex: Int32Array,
  shape: MatmulShape,
): Float32Array {
  const { tokens, inFeatures, outFeatures } = shape;
  const y = new Float32Array(tokens * outFeatures);
  const empty = new Float32Array(0);
  for (let t = 0; t < tokens; t++) {
    const adapter = adapterIndex[t] >= 0 ? adapters[adapterIndex[t]] : undefined;
    const row = referenceLoraMatmul(
      x.subarray(t * inFeatures, (t + 1) * inFeatures),
      w,
      adapter?.a ?? empty,
      adapter?.b ?? empty,
      { tokens: 1, inFeatures, outFeatures, rank: adapter?.rank ?? 0 },
      adapter?.scale ?? 0,
    );
    y.set(row, t * outFeatures);
  }
  return y;
}

/** Sampling options of the reference: as `sample`'s, with seeds already one per row. */
export type ReferenceSamplingOptions = Omit<SamplingOptions, "seed"> & { seeds?: number[] };

const f32 = Math.fround;

/** The penalised logit as the native code computes it: in f64, saturated to the f32 range, rounded once. */
export function referencePenalisedLogit(
  logit: number,
  count: number,
  repetitionPenalty: number,
  frequencyPenalty: number,
  presencePenalty: number,
): number {
  if (count <= 0) return logit;
  let value = logit > 0 ? logit / f32(repetitionPenalty) : logit * f32(repetitionPenalty);
  value -= count * f32(frequencyPenalty);
  value -= f32(presencePenalty);
  const largest = 3.4028234663852886e38;
  return f32(Math.min(largest, Math.max(-largest, value)));
}

type RowDistribution = { z: Float64Array; weights: Float64Array; kept: boolean[]; total: number; argmax: number };

// One row through penalties, temperature and the three filters, with a full sort (the obvious way).
function referenceRow(logits: Float32Array, options: ReferenceSamplingOptions, history?: Int32Array): RowDistribution {
  const vocab = logits.length;
  const penalised = Float64Array.from(logits);
  if (history && history.length > 0) {
    const counts = new Map<number, number>();
    for (const id of history) counts.set(id, (counts.get(id) ?? 0) + 1);
    for (const [id, count] of counts) {
      penalised[id] = referencePenalisedLogit(
        logits[id],
        count,
        options.repetitionPenalty ?? 1,
        options.frequencyPenalty ?? 0,
        options.presencePenalty ?? 0,
      );
    }
  }
  let argmax = 0;
  for (let i = 1; i < vocab; i++) if (penalised[i] > penalised[argmax]) argmax = i;
  const temperature = f32(options.temperature ?? 1);
  const z = new Float64Array(vocab);
  const weights = new Float64Array(vocab);
  const kept = new Array<boolean>(vocab).fill(true);
  if (temperature === 0) {
    kept.fill(false);
    kept[argmax] = true;
    weights[argmax] = 1;
    return { z, weights, kept, total: 1, argmax };
  }
  const inverse = f32(1 / temperature);
  for (let i = 0; i < vocab; i++) {
    z[i] = f32(f32(penalised[i] - penalised[argmax]) * inverse);
    weights[i] = f32(Math.exp(z[i]));
  }
  const order = Array.from({ length: vocab }, (_, i) => i).sort((l, r) => z[r] - z[l] || l - r);
  let threshold = Number.NEGATIVE_INFINITY;
  const topK = options.topK ?? 0;
  if (topK > 0 && topK < vocab) threshold = z[order[topK - 1]];
  const topP = options.topP ?? 1;
  if (topP < 1) {
    let mass = 0;
    for (const i of order) if (z[i] >= threshold) mass += weights[i];
    let cumulative = 0;
    for (const i of order) {
      if (z[i] < threshold) break;
      cumulative += weights[i];
      if (cumulative >= topP * mass) {
        threshold = Math.max(threshold, z[i]);
        break;
      }
    }
  }
  const minP = options.minP ?? 0;
  let total = 0;
  for (let i = 0; i < vocab; i++) {
    kept[i] = z[i] >= threshold && (minP <= 0 || weights[i] >= f32(minP));
    if (kept[i]) total += weights[i];
  }
  return { z, weights, kept, total, argmax };
}

/** The exact distribution `sample` draws each row from (probability 0 outside the kept set). */
export function referenceSamplingDistribution(
  logits: Float32Array,
  shape: SampleShape,
  options: ReferenceSamplingOptions = {},
): Float64Array[] {
  const rows: Float64Array[] = [];
  for (let r = 0; r < shape.rows; r++) {
    const row = referenceRow(
      logits.subarray(r * shape.vocab, (r + 1) * shape.vocab),
      options,
      options.previousTokens?.[r],
    );
    const probabilities = new Float64Array(shape.vocab);
    for (let i = 0; i < shape.vocab; i++) if (row.kept[i]) probabilities[i] = row.weights[i] / row.total;
    rows.push(probabilities);
  }
  return rows;
}

const MASK_64 = (1n << 64n) - 1n;

/** splitmix64, as in native/src/ops/common/sampling_math.h. */
export function referenceSplitmix64(state: bigint): bigint {
  let z = (state + 0x9e3779b97f4a7c15n) & MASK_64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK_64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK_64;
  return z ^ (z >> 31n);
}

/** The uniform [0, 1) number a row with this seed draws (53 bits of splitmix64). */
export function referenceUniform(seed: number): number {
  return Number(referenceSplitmix64(BigInt(seed)) >> 11n) / 2 ** 53;
}

/** Sort-based sampling with the same random stream as `sample`: the same seed gives the same token. */
export function referenceSample(
  logits: Float32Array,
  shape: SampleShape,
  options: ReferenceSamplingOptions & { seeds: number[] },
): { tokens: Int32Array; logprobs: Float32Array } {
  const tokens = new Int32Array(shape.rows);
  const logprobs = new Float32Array(shape.rows);
  for (let r = 0; r < shape.rows; r++) {
    const row = referenceRow(
      logits.subarray(r * shape.vocab, (r + 1) * shape.vocab),
      options,
      options.previousTokens?.[r],
    );
    if ((options.temperature ?? 1) === 0) {
      tokens[r] = row.argmax;
      logprobs[r] = 0;
      continue;
    }
    const target = referenceUniform(options.seeds[r]) * row.total;
    let cumulative = 0;
    let chosen = row.argmax;
    for (let i = 0; i < shape.vocab; i++) {
      if (!row.kept[i]) continue;
      cumulative += row.weights[i];
      chosen = i;
      if (cumulative > target) break;
    }
    tokens[r] = chosen;
    logprobs[r] = row.z[chosen] - Math.log(row.total);
  }
  return { tokens, logprobs };
}
