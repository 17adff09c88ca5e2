// Failures a caller of @pillow/replay would branch on: the native solver asked for but not loadable
// (fall back to "typescript"), the exact solver not converging, an LLM tagger whose backend failed or
// never gave a tag list, a LoRA adapter name the model lacks, an embedder that answered with the wrong
// number of vectors. `code` is stable across releases. A bad argument of a library function is a
// plain RangeError/TypeError instead (as the planning and Wasserstein checks throw).

export type ReplayErrorCode =
  /** solver "native" was requested but the addon (with earthMoversDistance) cannot be loaded. */
  | "E_NATIVE_UNAVAILABLE"
  /** The network-simplex solver found no optimum within its pivot limit (ill-scaled costs). */
  | "E_SOLVER"
  /** The LLM tagger's backend failed on every attempt (`cause`: its last error). */
  | "E_TAGGER_BACKEND"
  /** The LLM tagger got no parsable JSON tag list for an instruction after every attempt. */
  | "E_TAGGER_REPLY"
  /** The model has no LoRA adapter of the name given (`field: "adapter"`). */
  | "E_UNKNOWN_ADAPTER"
  /** An embedder returned a different number of vectors than texts. */
  | "E_EMBEDDER_OUTPUT"
  /** A continual learner's probeInterference or evaluate returned a malformed result (wrong length, not a finite score). */
  | "E_LEARNER_OUTPUT";

export class ReplayError extends Error {
  readonly code: ReplayErrorCode;
  /** The option at fault, when there is one. */
  readonly field?: string;

  constructor(code: ReplayErrorCode, message: string, where: { field?: string } = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = "ReplayError";
    this.code = code;
    this.field = where.field;
  }
}
