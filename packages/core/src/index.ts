export type { GenerateOptions, Generation, GenerationBackend } from "./backend.js";
export {
  createOpenAIBackend,
  normalizeEndpoint,
  OpenAIBackendError,
  type OpenAIBackend,
  type OpenAIBackendOptions,
} from "./openai-backend.js";
export type { Architecture, ModelConfig, RopeScaling } from "./config.js";
export { parseModelConfig, readModelConfig, SUPPORTED_ARCHITECTURES, toHfConfigJson } from "./config.js";
export type { CheckpointErrorCode, ConfigErrorCode, DataErrorCode } from "./errors.js";
export { CheckpointError, ConfigError, DataError } from "./errors.js";
export {
  bfloat16BitsToFloat32,
  float16BitsToBfloat16Bits,
  float16BitsToFloat32,
  float32BitsToBfloat16Bits,
  float32BitsToFloat16Bits,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
} from "./float16.js";
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
export type { SafetensorsDType, TensorInfo, WritableTensor } from "./safetensors.js";
export {
  SAFETENSORS_DTYPE_SIZES,
  SafetensorsCheckpoint,
  SafetensorsFile,
  writeFileAtomically,
  writeSafetensors,
} from "./safetensors.js";
export type { ChatMessage } from "./tokenizer.js";
export { Tokenizer } from "./tokenizer.js";
export type { AlpacaExample, ChatExample, CompletionExample, InstructionExample, PromptFormatting } from "./data.js";
export { parseInstructionRecord, readInstructionFile, toPromptCompletion } from "./data.js";
export type { GgufLoraExport, GgufModelExport, TensorRecord, TensorSource } from "./gguf.js";
export { ggufTensorName, llama3RopeFactors, permuteRowsForGgufRope, writeGguf, writeLoraGguf } from "./gguf.js";
export type { GgufValue } from "./gguf-format.js";
export { GgmlType, GgufTokenType, GgufValueType } from "./gguf-format.js";
export type { GgufFile, GgufMetadataValue, GgufTensorInfo } from "./gguf-reader.js";
export { readGguf } from "./gguf-reader.js";
