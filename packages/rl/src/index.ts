// @pillow/rl — rewards, rollouts with a cache, and the policy-gradient trainer for the PILLOW
// matcher. See README.md.
export { Adam, type AdamOptions } from "./adam.js";
export { RlError, type RlErrorCode } from "./errors.js";
export { type EvaluationQuery, evaluateSelectors, type SelectorEvaluation } from "./evaluate.js";
export * from "./rewards/index.js";
export {
  type CacheStats,
  defaultGeneration,
  defaultTemplate,
  type PromptTemplate,
  RolloutCache,
  type RolloutContext,
  type RolloutReward,
  type RolloutRequest,
  type RolloutResult,
  runRollouts,
} from "./rollout.js";
export {
  type TrainingExample,
  type TrainingHistory,
  type TrainMatcherOptions,
  type TrainStepRecord,
  trainMatcher,
} from "./train.js";
export {
  baselineNames,
  type CompareOptions,
  type ComparisonResult,
  compareSelectors,
  type KindSummary,
  type SeedRun,
  type SelectorName,
  type SelectorSummary,
  selectorNames,
  type WarmStartSettings,
  type WarmStartTeacher,
} from "./compare.js";
// The bootstrap is core's (one definition for rl and replay), re-exported for rl's users.
export { type BootstrapOptions, bootstrapInterval, type Interval, pairedBootstrap } from "@pillow/core";
export {
  type BestPerQueryTeacher,
  bestPerQueryTeacher,
  selectorTeacher,
  type TeacherSelection,
  type WarmStartRecord,
  type WarmStartResult,
  warmStartMatcher,
} from "./warm-start.js";
