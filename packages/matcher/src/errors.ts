// Failures a caller of @pillow/matcher would branch on: a matcher bundle folder that is missing a file,
// foreign or from another format version; a name (embedder kind, candidate feature) that does not
// exist; an embedder that answered wrongly. `code` is stable across releases so the CLI and scripts
// can branch on it without parsing messages; the message names the file (and field) so a user can fix
// the input. A bad argument of a library function is a plain RangeError/TypeError instead, and a bad
// pool.jsonl line is core's DataError (`FILE:LINE: reason`), a bad weights file core's CheckpointError.

export type MatcherErrorCode =
  /** A bundle folder lacks a file it needs, or the file cannot be read (unfinished or foreign folder). */
  | "E_BUNDLE_FILE"
  /** A bundle file is not valid JSON. */
  | "E_BUNDLE_JSON"
  /** A bundle file's "format" is not ours: the folder was written by something else. */
  | "E_BUNDLE_FORMAT"
  /** A bundle file's format version is one this pillow does not read (train the matcher again). */
  | "E_BUNDLE_VERSION"
  /** A field of a bundle file has a bad value. */
  | "E_BUNDLE_FIELD"
  /** The bundle's parts disagree (embedder dimension vs the network, manifest k vs the network's steps). */
  | "E_BUNDLE_MISMATCH"
  /** The bundle embeds with an LLM and no backend was passed to load it with. */
  | "E_NEEDS_BACKEND"
  /** An embedder kind or candidate feature name that does not exist. */
  | "E_UNKNOWN_NAME"
  /** An embedder returned the wrong number of vectors or vectors of differing length. */
  | "E_EMBEDDER_OUTPUT"
  /** The OpenAI-compatible embeddings endpoint answered with an HTTP error or a malformed body. */
  | "E_EMBEDDING_SERVICE";

export class MatcherError extends Error {
  readonly code: MatcherErrorCode;
  /** The file (or URL) the problem is in, when there is one; the message starts with it. */
  readonly file?: string;
  /** The field (or option) at fault, when there is one. */
  readonly field?: string;
  /** The HTTP status, for E_EMBEDDING_SERVICE when the endpoint answered one. */
  readonly status?: number;

  constructor(
    code: MatcherErrorCode,
    message: string,
    where: { file?: string; field?: string; status?: number } = {},
    options?: ErrorOptions,
  ) {
    super(where.file !== undefined ? `${where.file}: ${message}` : message, options);
    this.name = "MatcherError";
    this.code = code;
    this.file = where.file;
    this.field = where.field;
    this.status = where.status;
  }
}
