// @pillow/matcher — PILLOW prompt matching: prompt pools, frozen embedders, the matching network
// and the selectors it is compared with. See README.md.
export {
  BUNDLE_FORMAT,
  BUNDLE_MANIFEST_FILE,
  BUNDLE_VERSION,
  type BundleManifest,
  type LoadedMatcherBundle,
  loadMatcherBundle,
  type MatcherBundle,
  readBundleManifest,
  saveMatcherBundle,
} from "./bundle.js";
export { Bm25Index, type Bm25Options, topIndices } from "./bm25.js";
export {
  type CandidateFeatureName,
  CandidateFeatureSpace,
  candidateFeatureNames,
  type FeatureQuery,
  isCandidateFeatureName,
  normalizedInstruction,
} from "./candidate-features.js";
export { createEmbedder, type EmbedderOptions } from "./create-embedder.js";
export { CachedEmbedder, type Embedder, type EmbedderSpec, type SavableEmbedder } from "./embedder.js";
export { MatcherError, type MatcherErrorCode } from "./errors.js";
export { kMeans, type KMeansResult } from "./kmeans.js";
export {
  type ContextBudget,
  type EmbeddedPool,
  MATCHER_FORMAT_VERSION,
  MatchingNetwork,
  type MatchingNetworkConfig,
  type MatchingNetworkOptions,
  type PoolEncoding,
  type SelectOptions,
  type Selection,
  type SelectionStep,
  type SelectionTrace,
  type TensorSlot,
} from "./matching-network.js";
export {
  approximateTokenCount,
  type DatasetInstance,
  entryText,
  type FromDatasetOptions,
  type PromptEntry,
  PromptPool,
} from "./pool.js";
export { createRandom, hashString, Random, shuffled } from "./random.js";
export { readSafetensorsFile, type Tensor, writeSafetensorsFile } from "./safetensors.js";
export {
  bm25Selector,
  demoSelector,
  knnSelector,
  matcherSelector,
  noneSelector,
  prefixSelector,
  randomSelector,
  type Selector,
  type SelectorKind,
  type SelectorQuery,
} from "./selectors.js";
export { TfidfModel, type TfidfOptions, type TfidfState } from "./tfidf.js";
export { cosineSimilarity } from "./vectors.js";
export { words } from "./words.js";
