// Continual-learning metrics over the score matrix R[i][j] = score on task j after training stage i.

export type ContinualMetrics = {
  /** AP_i = mean_{j ≤ i} R[i][j]: average performance over the tasks seen so far. */
  ap: number[];
  /** RG_i = mean_{j < i} R[i][j] / R[j][j] · 100 (InsCL's Relative Gain). NaN at stage 0 (no earlier task). */
  relativeGain: number[];
  /** Backward transfer after the last stage: mean_{j < T−1} (R[T−1][j] − R[j][j]). NaN for one task. */
  bwt: number;
  /** Forgetting of task j: max_{j ≤ l < T−1} R[l][j] − R[T−1][j]; 0 for the last task. */
  forgetting: number[];
};

function checkScores(scores: readonly (readonly number[])[]): void {
  if (!Array.isArray(scores) || scores.length === 0)
    throw new RangeError("continualMetrics: scores must be a non-empty matrix");
  scores.forEach((row, i) => {
    if (!Array.isArray(row) || row.length < i + 1) {
      throw new RangeError(
        `continualMetrics: scores[${i}] must hold the scores of tasks 0..${i} (got ${row?.length ?? 0})`,
      );
    }
    for (let j = 0; j <= i; j++) {
      // Off the diagonal and before the last row, NaN marks a score that was not evaluated.
      const skippable = j < i && i < scores.length - 1 && Number.isNaN(row[j]);
      if (!skippable && (typeof row[j] !== "number" || !Number.isFinite(row[j]))) {
        throw new RangeError(`continualMetrics: scores[${i}][${j}] is ${row[j]}; scores must be finite numbers`);
      }
    }
  });
}

function mean(values: number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((sum, value) => sum + value, 0) / values.length;
}

/**
 * R is lower-triangular: row i holds (at least) tasks 0..i; entries beyond i are ignored. Entries
 * off the diagonal of rows before the last may be NaN (not evaluated): AP and RG of those rows are
 * then NaN, and so is the forgetting of a task with a missing intermediate score; the final AP, RG
 * and BWT need only the diagonal and the last row.
 * Relative Gain skips earlier tasks whose own score R[j][j] is 0 (the ratio is undefined there).
 */
export function continualMetrics(scores: readonly (readonly number[])[]): ContinualMetrics {
  checkScores(scores);
  const stages = scores.length;
  const ap = scores.map((row, i) => mean(row.slice(0, i + 1)));
  const relativeGain = scores.map((row, i) => {
    const ratios: number[] = [];
    for (let j = 0; j < i; j++) if (scores[j][j] !== 0) ratios.push((row[j] / scores[j][j]) * 100);
    return mean(ratios);
  });
  const last = scores[stages - 1];
  const differences: number[] = [];
  for (let j = 0; j < stages - 1; j++) differences.push(last[j] - scores[j][j]);
  const bwt = mean(differences);
  const forgetting = last.slice(0, stages).map((finalScore, j) => {
    if (j === stages - 1) return 0;
    let best = -Infinity;
    for (let l = j; l < stages - 1; l++) best = Math.max(best, scores[l][j]); // NaN propagates
    return best - finalScore;
  });
  return { ap, relativeGain, bwt, forgetting };
}
