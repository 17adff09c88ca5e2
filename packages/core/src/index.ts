export type { GenerateOptions, Generation, GenerationBackend, ScoredContinuation } from "./backend.js";
export type { Embedder } from "./embedder.js";
export type { Architecture, ModelConfig, RopeScaling } from "./config.js";
export { parseModelConfig, readModelConfig, SUPPORTED_ARCHITECTURES, toHfConfigJson } from "./config.js";
export type { AlpacaExample, ChatExample, CompletionExample, InstructionExample, PromptFormatting } from "./data.js";
export { parseInstructionRecord, readInstructionFile, toPromptCompletion } from "./data.js";
export { type BootstrapOptions, bootstrapInterval, type Interval, pairedBootstrap } from "./bootstrap.js";
export type { CheckpointErrorCode, ConfigErrorCode, DataErrorCode, ModelErrorCode } from "./errors.js";
export { CheckpointError, ConfigError, DataError, ModelError } from "./errors.js";
export {
  bfloat16BitsToFloat32,
  float16BitsToBfloat16Bits,
  float16BitsToFloat32,
  float32BitsToBfloat16Bits,
  float32BitsToFloat16Bits,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
} from "./float16.js";
export type {
  GgufExportSummary,
  GgufLoraExport,
  GgufModelDtype,
  GgufModelExport,
  PlannedTensor,
  TensorRecord,
  TensorSource,
} from "./gguf.js";
export {
  exportAdapterToGguf,
  exportModelToGguf,
  ggufTensorName,
  llama3RopeFactors,
  permuteRowsForGgufRope,
  unpermuteRowsFromGgufRope,
  writeGguf,
  writeGgufFile,
  writeLoraGguf,
} from "./gguf.js";
export type { GgufValue } from "./gguf-format.js";
export { GGML_TYPES, GgmlType, GgufTokenType, GgufValueType } from "./gguf-format.js";
export { ggufModelConfig } from "./gguf-model.js";
export type { GgufTokenizerParts } from "./gguf-tokenizer.js";
export { ggufTokenizerParts } from "./gguf-tokenizer.js";
export { dequantizeQ4_K, dequantizeQ5_K, dequantizeQ6_K, quantizeQ4_K } from "./k-quant-blocks.js";
export { dequantizeQ4_0, dequantizeQ8_0, quantizeQ4_0, quantizeQ8_0 } from "./quantized-blocks.js";
export type { GgufFile, GgufMetadataValue, GgufTensorInfo } from "./gguf-reader.js";
export { readGguf } from "./gguf-reader.js";
export {
  type BatchRequest,
  type BatchResult,
  type BatchStream,
  ContinuousBatcher,
  type ContinuousBatcherOptions,
  defaultKvCacheBytes,
} from "./continuous-batcher.js";
export {
  argmax,
  type FinishReason,
  type GenerationChunk,
  type GenerationOptions,
  type GenerationResult,
  isGreedy,
  samplingFor,
} from "./generation-options.js";
export { StreamedText, type TextStep } from "./streamed-text.js";
export {
  type AdapterOptions,
  countTargets,
  type LossAndGradInput,
  Model,
  type ModelDtype,
  type TrainMode,
} from "./model.js";
export { type LoadModelOptions, loadModel } from "./load-model.js";
export { logSoftmaxAt, type ScoringOptions, type ScoringPair } from "./score-continuations.js";
export { type BackendRequest, type BackendResult, NativeBackend, type NativeBackendOptions } from "./native-backend.js";
export {
  createOpenAIBackend,
  normalizeEndpoint,
  type OpenAIBackend,
  OpenAIBackendError,
  type OpenAIBackendOptions,
} from "./openai-backend.js";
export type { LinearModule, LoraConfig } from "./peft.js";
export {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  hfTensorName,
  isLoraTarget,
  LINEAR_MODULES,
  loraScale,
  moduleBlock,
  parseAdapterConfig,
  parsePeftTensorName,
  peftTensorName,
  readAdapterConfig,
  toAdapterConfigJson,
  writeAdapterConfig,
} from "./peft.js";
export {
  fitDemonstrations,
  formatDemonstration,
  formatInstructionBlock,
  formatPrompt,
  formatResponse,
  type PromptDemonstration,
  type PromptInput,
  type PromptLayout,
  type PromptQuery,
  promptStopStrings,
} from "./prompt-template.js";
export { createRandom, deriveSeed, hashString, Random } from "./random.js";
export type { SafetensorsDType, TensorInfo, WritableTensor } from "./safetensors.js";
export {
  SAFETENSORS_DTYPE_SIZES,
  SafetensorsCheckpoint,
  SafetensorsFile,
  writeSafetensors,
} from "./safetensors.js";
export { writeFileAtomically } from "./write-file-atomically.js";
export { saveModel, TOKENIZER_FILES } from "./save-model.js";
export {
  BYTE_BOS_ID,
  BYTE_EOS_ID,
  BYTE_PAD_ID,
  BYTE_VOCAB_SIZE,
  byteTokenizerJson,
  createTinyModel,
  type TinyModelOptions,
} from "./tiny-model.js";
export type { ChatMessage } from "./tokenizer.js";
export { Tokenizer } from "./tokenizer.js";
export { exampleLosses, type ExampleLossOptions } from "./example-loss.js";
export { type TrainOptions, type TrainResult, type TrainStepInfo, train } from "./train.js";
export { type TrainingExample, tokenizeExample } from "./training-examples.js";
export { learningRateAt } from "./learning-rate-schedule.js";
export { longestCommonSubsequence, type RougeScore, rougeL, rougeLOfTokens, rougeTokens } from "./rouge.js";
// What the layers above take from the native side, re-exported: cli and replay import these from core,
// never from @pillow/lora-kernels (scripts/check-layers.mjs, run by `pnpm lint`, enforces it).
export {
  type BackendInfo,
  backendInfo,
  earthMoversDistance,
  hasEarthMoversDistance,
  KernelError,
  loraMatmul,
  matmul,
  NativeAddonNotFoundError,
  type NativeErrorCode,
  pairwiseCost,
  sample,
  setThreads,
} from "@pillow/lora-kernels";
