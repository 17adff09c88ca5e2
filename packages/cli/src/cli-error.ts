// Errors the user can act on. Every failure the CLI reports says what went wrong and what to do,
// and maps to a stable exit code so scripts can tell a usage mistake from a failed run.

export const EXIT = {
  ok: 0,
  /** The work failed (a model error, a server answered badly, a file could not be written). */
  failure: 1,
  /** The command line or config file is wrong; nothing was run. */
  usage: 2,
  /** An input file (data, checkpoint, adapter) is missing or malformed. */
  input: 3,
  /** Stopped by Ctrl-C; finished results were kept. */
  interrupted: 130,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failure,
    /** What to do about it, printed on its own line. */
    readonly hint?: string,
  ) {
    super(message);
    this.name = "CliError";
  }
}

export const usageError = (message: string, hint?: string) => new CliError(message, EXIT.usage, hint);
export const inputError = (message: string, hint?: string) => new CliError(message, EXIT.input, hint);

/** The typed library errors that mean a bad input file or folder, by class name → the codes that do (all when undefined). */
const inputErrors: Record<string, readonly string[] | undefined> = {
  DataError: undefined,
  CheckpointError: undefined,
  ConfigError: undefined,
  // A matcher bundle folder that is missing, truncated, foreign or of another version.
  MatcherError: [
    "E_BUNDLE_FILE",
    "E_BUNDLE_JSON",
    "E_BUNDLE_FORMAT",
    "E_BUNDLE_VERSION",
    "E_BUNDLE_FIELD",
    "E_BUNDLE_MISMATCH",
  ],
  // A malformed WordNet file, an initial model folder without its files.
  SuiteError: ["E_WORDNET", "E_MODEL_FILE"],
};

/** Exit code for anything thrown: CliError carries its own; errors from the libraries that name a bad input file are input errors. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof CliError) return error.exitCode;
  const name = error instanceof Error ? error.name : "";
  const code = (error as { code?: unknown })?.code;
  if (Object.hasOwn(inputErrors, name)) {
    const codes = inputErrors[name];
    if (codes === undefined || (typeof code === "string" && codes.includes(code))) return EXIT.input;
  }
  if (typeof code === "string" && code.startsWith("commander.")) return EXIT.usage;
  return EXIT.failure;
}

export function formatError(error: unknown): string {
  if (error instanceof CliError) return `pillow: ${error.message}${error.hint ? `\n  → ${error.hint}` : ""}`;
  if (error instanceof Error) return `pillow: ${error.message}`;
  return `pillow: ${String(error)}`;
}
