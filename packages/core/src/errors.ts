// Errors raised while reading or writing model files. Each names the file (and the tensor, field or
// line) so a user can fix the input without a debugger; `code` is stable across releases so callers
// (the CLI, tests) can branch on it without parsing messages.

export type CheckpointErrorCode =
  | "E_FILE_NOT_FOUND"
  | "E_TRUNCATED"
  | "E_HEADER"
  | "E_DTYPE"
  | "E_SHAPE"
  | "E_OFFSETS"
  | "E_OVERLAP"
  | "E_MISSING_TENSOR"
  | "E_MISSING_SHARD"
  | "E_INDEX"
  | "E_WRITE"
  | "E_ARGUMENT"
  | "E_KV_BUDGET"
  | "E_CLOSED";

/** A safetensors / GGUF / checkpoint-folder problem. */
export class CheckpointError extends Error {
  readonly code: CheckpointErrorCode;
  readonly file?: string;
  readonly tensor?: string;

  constructor(code: CheckpointErrorCode, message: string, where: { file?: string; tensor?: string } = {}) {
    const prefix = [where.file, where.tensor !== undefined ? `tensor "${where.tensor}"` : undefined]
      .filter((part) => part !== undefined)
      .join(": ");
    super(prefix ? `${prefix}: ${message}` : message);
    this.name = "CheckpointError";
    this.code = code;
    this.file = where.file;
    this.tensor = where.tensor;
  }
}

export type ConfigErrorCode = "E_FILE_NOT_FOUND" | "E_JSON" | "E_FIELD" | "E_UNSUPPORTED";

/** A config.json / adapter_config.json / tokenizer files problem. */
export class ConfigError extends Error {
  readonly code: ConfigErrorCode;
  readonly file: string;
  readonly field?: string;

  constructor(code: ConfigErrorCode, message: string, where: { file: string; field?: string }) {
    super(`${where.file}${where.field !== undefined ? `: ${where.field}` : ""}: ${message}`);
    this.name = "ConfigError";
    this.code = code;
    this.file = where.file;
    this.field = where.field;
  }
}

export type DataErrorCode = "E_FILE_NOT_FOUND" | "E_EMPTY" | "E_JSON" | "E_FIELD";

/** A training-data file problem; the message reads `FILE:LINE: reason`. */
export class DataError extends Error {
  readonly code: DataErrorCode;
  readonly file: string;
  readonly line?: number;

  constructor(code: DataErrorCode, message: string, where: { file: string; line?: number }) {
    super(`${where.file}${where.line !== undefined ? `:${where.line}` : ""}: ${message}`);
    this.name = "DataError";
    this.code = code;
    this.file = where.file;
    this.line = where.line;
  }
}

export type ModelErrorCode =
  | "E_ARGUMENT"
  | "E_TYPE"
  | "E_SHAPE"
  | "E_NO_TOKENIZER"
  | "E_UNSUPPORTED"
  | "E_CHECKPOINT"
  | "E_NONFINITE_LOGITS"
  // The serving engine (continuous batcher): a prompt past the context, a request aborted by its
  // client, a batcher that was closed.
  | "E_CONTEXT_LENGTH"
  | "E_ABORTED"
  | "E_KV_BUDGET"
  | "E_CLOSED";

/** A bad argument to the model runtime (model, generation, training); `code` is stable across releases. */
export class ModelError extends Error {
  readonly code: ModelErrorCode;
  constructor(code: ModelErrorCode, message: string) {
    super(message);
    this.name = "ModelError";
    this.code = code;
  }
}
