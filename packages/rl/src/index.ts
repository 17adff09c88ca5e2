// @pillow/rl — rewards, rollouts with a cache, and the policy-gradient trainer for the PILLOW
// matcher. See README.md.
export { Adam, type AdamOptions } from "./adam.js";
export { type EvaluationQuery, evaluateSelectors, type SelectorEvaluation } from "./evaluate.js";
export * from "./rewards/index.js";
export {
  type CacheStats,
  defaultGeneration,
  defaultTemplate,
  type PromptTemplate,
  RolloutCache,
  type RolloutContext,
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
export { type ComparisonResult, compareSelectors, type SelectorSummary } from "./compare.js";
