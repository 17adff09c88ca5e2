// @pillow/replay: InsCL continual instruction tuning — exact Wasserstein distance between tasks'
// instructions, replay allocation, InsInfo, intention taggers, continual-learning metrics.
export { wasserstein, transportCost, normaliseWeights, nativeSolverAvailable } from "./wasserstein/wasserstein.js";
export type { WassersteinOptions, GroundCost, PointSet } from "./wasserstein/wasserstein.js";
export { computeCostMatrix } from "./wasserstein/cost-matrix.js";
export { solveTransport } from "./wasserstein/network-simplex.js";
export type { TransportResult } from "./wasserstein/network-simplex.js";
export { sinkhornLog } from "./wasserstein/sinkhorn.js";
export { allocateReplay } from "./planning/allocate-replay.js";
export { insInfo, normaliseWithinTask } from "./planning/instruction-information.js";
export {
  planReplay,
  selectByInformation,
  groupByInstruction,
  replayStrategies,
  sharedInstructionChoices,
  defaultSharedInstructions,
  withoutInstructions,
} from "./planning/replay-plan.js";
export type {
  ReplayStrategy,
  ReplayPlan,
  TaskReplay,
  InstructionInstance,
  ContinualTask,
  InstructionGroup,
  PlanReplayOptions,
  SharedInstructions,
} from "./planning/replay-plan.js";
export type { Tagger } from "./tagging/tagger.js";
export { createKeyphraseTagger, keyphraseTags } from "./tagging/keyphrase-tagger.js";
export { createLlmTagger, intentionTaggingPrompt, parseTagReply, firstJsonArray } from "./tagging/llm-tagger.js";
export type { LlmTaggerOptions } from "./tagging/llm-tagger.js";
export { normaliseTag } from "./tagging/normalise-tag.js";
export { dbscanCosine, mergeSimilarTags } from "./tagging/merge-tags.js";
export type { DbscanOptions, TagMergeOptions } from "./tagging/merge-tags.js";
export { createHashingEmbedder, backendEmbedder, stackVectors } from "./embedding/embedder.js";
export type { Embedder, HashingEmbedderOptions } from "./embedding/embedder.js";
export { continualMetrics } from "./metrics/continual-metrics.js";
export { ReplayError, type ReplayErrorCode } from "./errors.js";
export type { ContinualMetrics } from "./metrics/continual-metrics.js";
export { scoreHeatmapSvg } from "./metrics/heatmap-svg.js";
export type { HeatmapOptions } from "./metrics/heatmap-svg.js";
export { defaultStageOrder, orderStage, runContinual, stageOrders } from "./continual/run-continual.js";
export type { ContinualLearner, InterferenceProbe } from "./continual/continual-learner.js";
export type { LookAheadReport } from "./continual/run-continual.js";
export type {
  RunContinualOptions,
  RunContinualResult,
  ReplayPlanSummary,
  StageOrder,
  StageReport,
} from "./continual/run-continual.js";
export { createLoraLearner } from "./continual/lora-learner.js";
export type { LoraLearnerOptions } from "./continual/lora-learner.js";
// ROUGE-L F1 from @pillow/core, under the name this package has always exported.
export { rougeL as rougeLF1 } from "@pillow/core";
export { createRandom, deriveSeed } from "./random.js";
export type { Random } from "./random.js";
export { allocateWithFloor } from "./planning/allocate-with-floor.js";
export { usesInstructionTags, defaultFloorShare, defaultDirectedShare } from "./planning/replay-plan.js";
export { resolveOrders } from "./protocol/training-orders.js";
export type { TrainingOrder } from "./protocol/training-orders.js";
export type { PairedInterval } from "./protocol/compare-summary.js";
export { runCompareCell } from "./protocol/compare-strategies.js";
export type { CompareRun, CompareCellOptions } from "./protocol/compare-strategies.js";
export { summariseCompare, compareTableMarkdown, meanScores } from "./protocol/compare-summary.js";
export type { CompareSummary, StrategySummary as CompareStrategySummary } from "./protocol/compare-summary.js";
