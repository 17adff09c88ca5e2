import { createAcronymTask } from "./acronym.js";
import { createArithmeticTask } from "./arithmetic.js";
import { createCityInPassageTask } from "./cityInPassage.js";
import { createDialogueReplyTask } from "./dialogueReply.js";
import { createDuplicateWordTask } from "./duplicateWord.js";
import { createExtractCountryTask } from "./extractCountry.js";
import { createHeadlineTask } from "./headline.js";
import { createKnowledgeQuestionTask } from "./knowledgeQuestion.js";
import { createNumberWordsTask } from "./numberWords.js";
import { createPartOfSpeechTask } from "./partOfSpeech.js";
import { createPluralFormTask } from "./pluralForm.js";
import { createRecordLookupTask } from "./recordLookup.js";
import { createRunProgramTask } from "./runProgram.js";
import { createSentenceQualityTask } from "./sentenceQuality.js";
import { createSnakeCaseTask } from "./snakeCase.js";
import type { TaskDefinition } from "./task.js";
import { createWordSentimentTask } from "./wordSentiment.js";

/** Task factories in InsCL's curriculum order of SuperNI categories. */
export const taskFactories: (() => TaskDefinition)[] = [
  createPartOfSpeechTask, // classification
  createSentenceQualityTask, // text quality evaluation
  createSnakeCaseTask, // code
  createDuplicateWordTask, // detection
  createWordSentimentTask, // sentiment analysis
  createCityInPassageTask, // comprehension
  createRecordLookupTask, // closed QA
  createExtractCountryTask, // extraction
  createDialogueReplyTask, // dialogue
  createRunProgramTask, // program execution
  createPluralFormTask, // rewriting
  createKnowledgeQuestionTask, // open QA
  createNumberWordsTask, // misc
  createAcronymTask, // generation
  createHeadlineTask, // summarization
  createArithmeticTask, // mathematics
];

export const taskNames = [
  "part_of_speech",
  "sentence_quality",
  "snake_case",
  "duplicate_word",
  "word_sentiment",
  "city_in_passage",
  "record_lookup",
  "extract_country",
  "dialogue_reply",
  "run_program",
  "plural_form",
  "knowledge_question",
  "number_words",
  "acronym",
  "headline",
  "arithmetic",
] as const;

export type TaskName = (typeof taskNames)[number];

let cached: TaskDefinition[] | undefined;

/** The 16 task definitions (data loaded once per process). */
export function loadTaskDefinitions(): TaskDefinition[] {
  cached ??= taskFactories.map((create) => create());
  return cached;
}
