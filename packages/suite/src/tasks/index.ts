import { createAcronymTask } from "./acronym.js";
import { createContinentTask } from "./continent.js";
import { createDialogueReplyTask } from "./dialogueReply.js";
import { createExtractCountryTask } from "./extractCountry.js";
import { createHeadlineTask } from "./headline.js";
import { createInitialSoundTask } from "./initialSound.js";
import { createNumberWordsTask } from "./numberWords.js";
import { createParityTask } from "./parity.js";
import { createPluralFormTask } from "./pluralForm.js";
import { createReverseWordsTask } from "./reverseWords.js";
import { createSentenceSentimentTask } from "./sentenceSentiment.js";
import { createSentenceSubjectTask } from "./sentenceSubject.js";
import { createSnakeCaseTask } from "./snakeCase.js";
import { createSuccessorTask } from "./successor.js";
import type { TaskDefinition } from "./task.js";
import { createTitleCaseTask } from "./titleCase.js";
import { createWordLengthTask } from "./wordLength.js";

/**
 * Task factories in InsCL's curriculum order of SuperNI categories. Families (shared inputs):
 * number (parity, number_words, successor), phrase (title_case, snake_case, reverse_words, acronym),
 * word (initial_sound, plural_form, word_length), sentence (sentence_sentiment, sentence_subject,
 * continent, extract_country, headline) and dialogue (dialogue_reply).
 */
export const taskFactories: (() => TaskDefinition)[] = [
  createParityTask, // classification
  createTitleCaseTask, // text quality evaluation
  createSnakeCaseTask, // code
  createInitialSoundTask, // detection
  createSentenceSentimentTask, // sentiment analysis
  createSentenceSubjectTask, // comprehension
  createContinentTask, // closed QA
  createExtractCountryTask, // extraction
  createDialogueReplyTask, // dialogue
  createReverseWordsTask, // program execution
  createPluralFormTask, // rewriting
  createWordLengthTask, // open QA
  createNumberWordsTask, // misc
  createAcronymTask, // generation
  createHeadlineTask, // summarization
  createSuccessorTask, // mathematics
];

export const taskNames = [
  "parity",
  "title_case",
  "snake_case",
  "initial_sound",
  "sentence_sentiment",
  "sentence_subject",
  "continent",
  "extract_country",
  "dialogue_reply",
  "reverse_words",
  "plural_form",
  "word_length",
  "number_words",
  "acronym",
  "headline",
  "successor",
] as const;

export type TaskName = (typeof taskNames)[number];

let cached: TaskDefinition[] | undefined;

/** The 16 task definitions (data loaded once per process). */
export function loadTaskDefinitions(): TaskDefinition[] {
  cached ??= taskFactories.map((create) => create());
  return cached;
}
