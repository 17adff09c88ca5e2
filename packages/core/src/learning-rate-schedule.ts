// The learning-rate schedules the trainer offers, as HF's schedulers compute them.

/** HF's get_cosine_schedule_with_warmup / get_constant_schedule_with_warmup, at 0-based step s. */
export function learningRateAt(
  step: number,
  totalSteps: number,
  peak: number,
  warmup: number,
  schedule: "cosine" | "constant",
): number {
  if (step < warmup) return (peak * step) / Math.max(1, warmup);
  if (schedule === "constant") return peak;
  const progress = (step - warmup) / Math.max(1, totalSteps - warmup);
  return peak * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}
