// Plain TypeScript references for the native ops: slow, obvious, and used by the tests as the
// independent check of every optimised kernel. Accumulation is in f64.
import type { MatmulShape } from "./AddonTypes.js";

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
