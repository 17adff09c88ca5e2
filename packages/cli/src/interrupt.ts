// Ctrl-C handling for long commands: the first SIGINT asks the work to stop after the current unit
// (a stage, an epoch, a query) so everything finished so far is written out; a second one exits now.
import { EXIT } from "./cli-error.js";

export class Interrupted extends Error {
  constructor() {
    super("interrupted by Ctrl-C; finished results were kept");
    this.name = "Interrupted";
  }
}

export type InterruptGuard = {
  readonly signal: AbortSignal;
  /** Throws Interrupted once Ctrl-C was pressed: call between units of work. */
  check(): void;
  dispose(): void;
};

export function guardInterrupts(onFirst?: () => void): InterruptGuard {
  const controller = new AbortController();
  const handler = () => {
    if (controller.signal.aborted) {
      process.stderr.write("\npillow: second Ctrl-C, exiting now\n");
      process.exit(EXIT.interrupted);
    }
    process.stderr.write("\npillow: stopping after the current step (Ctrl-C again to exit at once)\n");
    controller.abort();
    onFirst?.();
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  return {
    signal: controller.signal,
    check() {
      if (controller.signal.aborted) throw new Interrupted();
    },
    dispose() {
      process.off("SIGINT", handler);
      process.off("SIGTERM", handler);
    },
  };
}
