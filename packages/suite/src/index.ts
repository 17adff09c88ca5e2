// @pillow/suite: the 16-task instruction suite, its prompt template and the tiny model's assets.
export { buildPretrainingCorpus, type CorpusDocument, type CorpusOptions } from "./corpus.js";
export {
  answerEvaluationPrompts,
  buildEvaluationPrompts,
  type EvaluationPrompt,
  evaluationTable,
  scoreEvaluation,
  type EvaluationAnswer,
  type TaskScore,
  tinyPromptBudget,
} from "./evaluation.js";
export { SuiteError, type SuiteErrorCode } from "./errors.js";
export { type ExportedFile, exportSuiteJsonl } from "./export.js";
export { corpusExample, type PretrainOptions, type PretrainResult, pretrainTinyModel } from "./pretrain.js";
// The prompt template lives in @pillow/core (one definition for every layer); re-exported here, where
// the suite's users have always found it. The suite's layout is the default "compact" one.
export {
  fitDemonstrations,
  formatDemonstration,
  formatPrompt,
  formatResponse,
  type PromptInput,
  promptStopStrings,
} from "@pillow/core";
export { createRandom, hashString, Random } from "./random.js";
// ROUGE-L lives in @pillow/core (the one implementation, scoring as rouge-score does); re-exported here.
export { longestCommonSubsequence, rougeL, rougeTokens } from "@pillow/core";
export {
  buildSuite,
  type Instance,
  type InstructionKind,
  instructionKindMap,
  instructionKinds,
  isHeldOut,
  maxInputLength,
  maxOutputLength,
  type Suite,
  type SuiteOptions,
  type SuiteTask,
} from "./suite.js";
export { type TaskName, taskNames } from "./tasks/index.js";
export {
  type TinyModelShape,
  tinyGenerationConfig,
  tinyModelConfig,
  tinyModelDir,
  tinyModelShape,
  writeTinyModelAssets,
} from "./tinyModel.js";
export {
  bosTokenId,
  buildByteTokenizerJson,
  buildTokenizerConfigJson,
  byteTokenizerVocabSize,
  eosTokenId,
  padTokenId,
  tinyChatTemplate,
} from "./tokenizer.js";
