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

const selectorSummarySchema = z.object({
  /** ROUGE-L ×100 on the test queries, and its bootstrap 95 % interval over queries. */
  mean: finite,
  low: finite,
  high: finite,
  meanDemos: finite,
  /** Mean ROUGE-L ×100 per instruction kind (specific / vague / unseen). */
  byKind: z.record(z.string(), finite),
});

export const matchingSummarySchema = z.object({
  selectors: z.object({
    none: selectorSummarySchema,
    random: selectorSummarySchema,
    bm25: selectorSummarySchema,
    knn: selectorSummarySchema,
    pillow: selectorSummarySchema,
  }),
  /** The baseline with the highest test mean. */
  bestBaseline: z.enum(["none", "random", "bm25", "knn"]),
  /** PILLOW − best baseline, paired bootstrap 95 % interval over the test queries. */
  difference: z.object({ mean: finite, low: finite, high: finite }),
  kinds: z.array(z.string()),
  /** Test queries per kind. */
  kindCounts: z.record(z.string(), finite),
  /** One line: what the comparison found. */
  verdict: z.string(),
});

export const demoSummarySchema = z.object({
  model: z.string(),
  tasks: z.array(z.string()),
  quick: z.boolean(),
  continual: z.record(z.string(), strategySummarySchema),
  /** One line on what the continual phase found (the best strategy against random, with its interval). */
  continualFinding: z.string().optional(),
  matching: matchingSummarySchema,
  /** The matcher's RL curve: mean training reward per step (loglik: mean log-probability per token). */
  matcher: z.object({ rewards: z.array(finite), queries: finite, poolSize: finite, reward: z.string() }),
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
