// Similar tags are merged as InsCL does: DBSCAN over tag embeddings with the cosine distance, each
// cluster replaced by its most frequent tag. (The official code stops one cluster short and never
// merges the last cluster; every cluster is merged here.)
import type { Embedder } from "@pillow/core";
import { ReplayError } from "../errors.js";

export type DbscanOptions = { epsilon?: number; minSamples?: number };

/**
 * DBSCAN with d(x, y) = 1 − cos(x, y). A point's neighbourhood includes itself (as scikit-learn
 * counts it for min_samples). Returns one label per point: a cluster id ≥ 0, or −1 for noise.
 */
export function dbscanCosine(vectors: readonly Float32Array[], options: DbscanOptions = {}): Int32Array {
  const epsilon = options.epsilon ?? 0.1;
  const minSamples = options.minSamples ?? 5;
  if (!(epsilon >= 0) || !Number.isFinite(epsilon)) throw new RangeError(`dbscan: epsilon must be ≥ 0, got ${epsilon}`);
  if (!Number.isInteger(minSamples) || minSamples < 1) {
    throw new RangeError(`dbscan: minSamples must be an integer ≥ 1, got ${minSamples}`);
  }
  const count = vectors.length;
  const dim = count > 0 ? vectors[0].length : 0;
  const unit = vectors.map((vector, index) => {
    if (vector.length !== dim)
      throw new RangeError(`dbscan: vector ${index} has ${vector.length} dimensions, expected ${dim}`);
    let norm = 0;
    for (let k = 0; k < dim; k++) norm += vector[k] * vector[k];
    if (norm === 0)
      throw new RangeError(`dbscan: vector ${index} is the zero vector; the cosine distance is undefined for it`);
    const scaled = new Float64Array(dim);
    const inverse = 1 / Math.sqrt(norm);
    for (let k = 0; k < dim; k++) scaled[k] = vector[k] * inverse;
    return scaled;
  });
  const neighbours: number[][] = unit.map(() => []);
  for (let i = 0; i < count; i++) {
    neighbours[i].push(i);
    for (let j = i + 1; j < count; j++) {
      let dot = 0;
      const x = unit[i];
      const y = unit[j];
      for (let k = 0; k < dim; k++) dot += x[k] * y[k];
      if (1 - dot <= epsilon) {
        neighbours[i].push(j);
        neighbours[j].push(i);
      }
    }
  }
  const labels = new Int32Array(count).fill(-1);
  const isCore = neighbours.map((list) => list.length >= minSamples);
  let cluster = 0;
  for (let seed = 0; seed < count; seed++) {
    if (labels[seed] !== -1 || !isCore[seed]) continue;
    labels[seed] = cluster;
    const queue = [seed];
    while (queue.length > 0) {
      const point = queue.pop()!;
      if (!isCore[point]) continue; // border points join but do not expand the cluster
      for (const next of neighbours[point]) {
        if (labels[next] === -1) {
          labels[next] = cluster;
          queue.push(next);
        }
      }
    }
    cluster++;
  }
  return labels;
}

export type TagMergeOptions = DbscanOptions & { embedder: Embedder };

/**
 * Replaces every tag by its cluster's most frequent tag (frequency = number of instructions carrying it;
 * ties to the alphabetically first). Returns the merged tag lists and the tag → representative map.
 */
export async function mergeSimilarTags(
  tagsPerInstruction: readonly (readonly string[])[],
  options: TagMergeOptions,
): Promise<{ tags: string[][]; representative: Map<string, string> }> {
  const frequency = new Map<string, number>();
  for (const tags of tagsPerInstruction)
    for (const tag of new Set(tags)) frequency.set(tag, (frequency.get(tag) ?? 0) + 1);
  const unique = [...frequency.keys()].sort();
  const representative = new Map<string, string>(unique.map((tag) => [tag, tag]));
  if (unique.length > 0) {
    const vectors = await options.embedder.embed(unique);
    if (vectors.length !== unique.length) {
      throw new ReplayError(
        "E_EMBEDDER_OUTPUT",
        `mergeSimilarTags: the embedder returned ${vectors.length} vectors for ${unique.length} tags`,
      );
    }
    const labels = dbscanCosine(vectors, options);
    const clusterCount = labels.reduce((maximum, label) => Math.max(maximum, label + 1), 0);
    for (let cluster = 0; cluster < clusterCount; cluster++) {
      const members = unique.filter((_, index) => labels[index] === cluster);
      let best = members[0];
      for (const tag of members) if (frequency.get(tag)! > frequency.get(best)!) best = tag;
      for (const tag of members) representative.set(tag, best);
    }
  }
  const tags = tagsPerInstruction.map((list) => [...new Set(list.map((tag) => representative.get(tag)!))]);
  return { tags, representative };
}
