// What runContinual trains and evaluates, in its own file so that learners (lora-learner.ts) and the
// stage loop (run-continual.ts) both import it without importing each other.
import type { InstructionInstance } from "../planning/replay-plan.js";

/** Each earlier task's mean probe loss before and after the look-ahead, in the order given. */
export type InterferenceProbe = { before: number[]; after: number[] };

export interface ContinualLearner<T extends InstructionInstance = InstructionInstance> {
  /** Trains on the stage's data (the current task's training set plus the replay, shuffled). */
  trainStage(instances: T[], stage: number, task: string): Promise<{ losses?: number[] } | undefined>;
  /** Mean score (e.g. ROUGE-L F1 · 100) on a test set. */
  evaluate(test: T[], task: string): Promise<number>;
  /**
   * The "interference" strategy's look-ahead: a few training steps on `current` from a copy of the
   * learner's state, and each earlier task's mean loss on its probe set before and after them. Must
   * leave the learner's own state exactly as it was. Learners without it cannot run "interference".
   */
  probeInterference?(current: T[], probes: T[][], stage: number): Promise<InterferenceProbe>;
}
