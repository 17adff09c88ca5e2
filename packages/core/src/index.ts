export type { GenerateOptions, Generation, GenerationBackend } from "./backend.js";
