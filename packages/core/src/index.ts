export type { GenerateOptions, Generation, GenerationBackend } from "./backend.js";
export {
  createOpenAIBackend,
  normalizeEndpoint,
  OpenAIBackendError,
  type OpenAIBackend,
  type OpenAIBackendOptions,
} from "./openai-backend.js";
