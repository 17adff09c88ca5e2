// The demo's machine-readable summary (`--json FILE`): every number the report shows, and the
// schema that checks it (structure, and that every number is finite: a NaN in a result is a bug).
import { z } from "zod";

const finite = z.number().refine(Number.isFinite, "must be a finite number");

export const strategySummarySchema = z.object({
  /** R[i][j]: ROUGE-L (×100) after stage i on task j's test split, for the tasks seen so far (j ≤ i). */
  scores: z.array(z.array(finite)),
  /** Average performance after each stage: mean_j≤i R[i][j]. */
  ap: z.array(finite),
  /** Relative gain after each stage i ≥ 1: mean_{j<i} R[i][j] / R[j][j] × 100. */
  relativeGain: z.array(finite),
  /** Backward transfer after the last stage. */
  bwt: finite,
  /** Mean over earlier tasks of (best earlier score − final score). */
  forgetting: finite,
  /** Training loss per optimizer step, one array per stage. */
  losses: z.array(z.array(finite)),
  /** Replayed examples mixed into each stage. */
  replayed: z.array(finite),
  seconds: finite,
  /**
   * Final RG minus random's, paired over the earlier tasks (R[T−1][j]/R[j][j]·100 of both), with a
   * bootstrap 95 % interval over those tasks: one order and one seed (`pillow continual compare`
   * resamples (order, seed) cells instead). Absent for random itself.
   */
  versusRandom: z.object({ mean: finite, low: finite, high: finite, pairs: finite }).optional(),
});

export const matchingSummarySchema = z.object({
  none: finite,
  random: finite,
  bm25: finite,
  knn: finite,
  pillow: finite,
});

export const demoSummarySchema = z.object({
  model: z.string(),
  tasks: z.array(z.string()),
  quick: z.boolean(),
  continual: z.record(z.string(), strategySummarySchema),
  /** One line on what the continual phase found (the best strategy against random, with its interval). */
  continualFinding: z.string().optional(),
  matching: matchingSummarySchema,
  /** The matcher's training curve: mean reward per training epoch. */
  matcher: z.object({ rewards: z.array(finite), queries: finite, poolSize: finite }),
  /** Wall-clock seconds per phase and in all. */
  phases: z.record(z.string(), finite),
  seconds: finite,
});

export type StrategySummary = z.infer<typeof strategySummarySchema>;
export type MatchingSummary = z.infer<typeof matchingSummarySchema>;
export type DemoSummary = z.infer<typeof demoSummarySchema>;

/** Every number anywhere in a JSON-like value, with its path (for "all numbers finite" checks). */
export function collectNumbers(value: unknown, path = "$"): { path: string; value: number }[] {
  if (typeof value === "number") return [{ path, value }];
  if (Array.isArray(value)) return value.flatMap((item, index) => collectNumbers(item, `${path}[${index}]`));
  if (value !== null && typeof value === "object") {
    return Object.entries(value).flatMap(([key, item]) => collectNumbers(item, `${path}.${key}`));
  }
  return [];
}
