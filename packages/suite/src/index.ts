// @pillow/suite: the 16-task instruction suite, its prompt template and the tiny model's assets.
export { type ExportedFile, exportSuiteJsonl } from "./export.js";
export { fitDemonstrations, formatDemonstration, formatPrompt, type PromptInput, promptStopStrings } from "./prompt.js";
export { createRandom, hashString, type Random } from "./random.js";
export {
  buildSuite,
  type Instance,
  isHeldOut,
  maxInputLength,
  maxOutputLength,
  type Suite,
  type SuiteOptions,
  type SuiteTask,
} from "./suite.js";
export { type TaskName, taskNames } from "./tasks/index.js";
