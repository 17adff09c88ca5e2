// Failures a caller of @pillow/suite would branch on: a malformed WordNet database file, a task that
// cannot supply as many instances as asked (ask for fewer), an initial model folder missing a file,
// a model that answered with the wrong number of texts. `code` is stable across releases; the message
// names the file (and line) or the task. A bad argument of a library function is a plain
// RangeError/TypeError instead.

export type SuiteErrorCode =
  /** A WordNet database file is malformed: a bad index line, or no synset at an offset the index gives. */
  | "E_WORDNET"
  /** A task yields fewer distinct instances than asked for (suite size, evaluation shots, corpus budget). */
  | "E_TOO_FEW_INSTANCES"
  /** The initial model folder lacks a file pretraining starts from (config.json, model.safetensors, tokenizer.json). */
  | "E_MODEL_FILE"
  /** The model's generateBatch returned a different number of texts than prompts. */
  | "E_BACKEND_OUTPUT";

export class SuiteError extends Error {
  readonly code: SuiteErrorCode;
  /** The file the problem is in, when there is one; the message starts with it (and the line). */
  readonly file?: string;
  /** The 1-based line in `file`, when the problem is one line. */
  readonly line?: number;
  /** The task that ran short, for E_TOO_FEW_INSTANCES. */
  readonly task?: string;

  constructor(
    code: SuiteErrorCode,
    message: string,
    where: { file?: string; line?: number; task?: string } = {},
    options?: ErrorOptions,
  ) {
    const prefix = where.file !== undefined ? `${where.file}${where.line !== undefined ? `:${where.line}` : ""}: ` : "";
    super(`${prefix}${message}`, options);
    this.name = "SuiteError";
    this.code = code;
    this.file = where.file;
    this.line = where.line;
    this.task = where.task;
  }
}
