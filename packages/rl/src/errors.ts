// Failures a caller of @pillow/rl would branch on: a name from a config or a command line (reward,
// reward tokenizer, warm-start teacher, training algorithm) that does not exist; a backend that cannot
// do what the reward needs or answered with the wrong number of results; a reference with nothing to
// score; a training run whose gradient blew up; a teacher whose choices the network cannot imitate.
// `code` is stable across releases. A bad argument of a library function is a plain
// RangeError/TypeError instead, and the matcher's own failures stay @pillow/matcher's MatcherError.

export type RlErrorCode =
  /** A reward, reward tokenizer, warm-start teacher or algorithm name that does not exist (`field` says which). */
  | "E_UNKNOWN_NAME"
  /** The backend lacks what was asked of it (reward "loglik" needs `score()`). */
  | "E_BACKEND_CAPABILITY"
  /** The backend returned a different number of generations or scores than it was asked for. */
  | "E_BACKEND_OUTPUT"
  /** A reference continuation has no tokens, so "loglik" has nothing to score. */
  | "E_EMPTY_REFERENCE"
  /** The policy gradient is not finite (training diverged: lower the learning rate). */
  | "E_NONFINITE_GRADIENT"
  /** The warm-start teacher's selection cannot be replayed by the network (its budget, STOP or steps differ). */
  | "E_TEACHER_REPLAY";

export class RlError extends Error {
  readonly code: RlErrorCode;
  /** The option or config field at fault, when there is one ("reward", "tokenizer", "warmStart.teacher", "algorithm"). */
  readonly field?: string;

  constructor(code: RlErrorCode, message: string, where: { field?: string } = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = "RlError";
    this.code = code;
    this.field = where.field;
  }
}
