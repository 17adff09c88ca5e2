// k-means (k-means++ seeding, Lloyd iterations) used to pick a diverse prompt pool from training
// data: the pool keeps the instance nearest to each centroid.

import { createRandom } from "./random.js";
import { squaredDistance } from "./vectors.js";

export type KMeansResult = {
  /** Cluster of every point. */
  assignments: Int32Array;
  centroids: Float64Array[];
  /** Index of the point nearest to each centroid (the cluster's representative). */
  medoids: number[];
};

export function kMeans(
  points: readonly ArrayLike<number>[],
  k: number,
  options: { seed?: number; iterations?: number } = {},
): KMeansResult {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`kMeans: k must be a positive integer, got ${k}`);
  if (points.length === 0) throw new RangeError("kMeans: no points");
  const clusters = Math.min(k, points.length);
  const dimension = points[0].length;
  const random = createRandom(options.seed ?? 0);
  const iterations = options.iterations ?? 50;

  // k-means++: each new centre is drawn with probability proportional to its squared distance.
  const centroids: Float64Array[] = [Float64Array.from(points[random.integer(points.length)])];
  const nearest = new Float64Array(points.length).fill(Number.POSITIVE_INFINITY);
  while (centroids.length < clusters) {
    let total = 0;
    for (let i = 0; i < points.length; i++) {
      nearest[i] = Math.min(nearest[i], squaredDistance(points[i], centroids[centroids.length - 1]));
      total += nearest[i];
    }
    let chosen = 0;
    if (total > 0) {
      let threshold = random.next() * total;
      for (let i = 0; i < points.length; i++) {
        threshold -= nearest[i];
        if (threshold <= 0) {
          chosen = i;
          break;
        }
      }
    } else chosen = random.integer(points.length);
    centroids.push(Float64Array.from(points[chosen]));
  }

  const assignments = new Int32Array(points.length).fill(-1);
  for (let iteration = 0; iteration < iterations; iteration++) {
    let changed = false;
    for (let i = 0; i < points.length; i++) {
      let best = 0;
      let bestDistance = Number.POSITIVE_INFINITY;
      for (let c = 0; c < clusters; c++) {
        const distance = squaredDistance(points[i], centroids[c]);
        if (distance < bestDistance) {
          bestDistance = distance;
          best = c;
        }
      }
      if (assignments[i] !== best) {
        assignments[i] = best;
        changed = true;
      }
    }
    if (!changed) break;
    const sums = centroids.map(() => new Float64Array(dimension));
    const counts = new Int32Array(clusters);
    for (let i = 0; i < points.length; i++) {
      counts[assignments[i]]++;
      const sum = sums[assignments[i]];
      for (let d = 0; d < dimension; d++) sum[d] += points[i][d];
    }
    // An emptied cluster keeps its previous centre rather than collapsing to the origin.
    for (let c = 0; c < clusters; c++) {
      if (counts[c] > 0) for (let d = 0; d < dimension; d++) centroids[c][d] = sums[c][d] / counts[c];
    }
  }

  const medoids = centroids.map(() => -1);
  const medoidDistance = centroids.map(() => Number.POSITIVE_INFINITY);
  for (let i = 0; i < points.length; i++) {
    const c = assignments[i];
    const distance = squaredDistance(points[i], centroids[c]);
    if (distance < medoidDistance[c]) {
      medoidDistance[c] = distance;
      medoids[c] = i;
    }
  }
  return { assignments, centroids, medoids: medoids.filter((index) => index >= 0) };
}
