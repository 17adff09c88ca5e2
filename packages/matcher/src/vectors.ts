// Small dense-vector helpers shared by the embedders, selectors and k-means.

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

export function norm(a: ArrayLike<number>): number {
  return Math.sqrt(dot(a, a));
}

/** Cosine similarity; 0 when either vector is all zeros (an empty text has no direction). */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) {
    throw new RangeError(`cosineSimilarity: vectors differ in length (${a.length} vs ${b.length})`);
  }
  const denominator = norm(a) * norm(b);
  return denominator === 0 ? 0 : dot(a, b) / denominator;
}

export function l2Normalized(a: ArrayLike<number>): Float64Array {
  const result = Float64Array.from(a as ArrayLike<number>);
  const length = norm(result);
  if (length > 0) for (let i = 0; i < result.length; i++) result[i] /= length;
  return result;
}

export function squaredDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const difference = a[i] - b[i];
    sum += difference * difference;
  }
  return sum;
}
