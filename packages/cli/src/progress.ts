// Progress bars with ETA (cli-progress) on stderr for long steps. On a terminal they redraw in
// place; elsewhere (CI logs, pipes) they print a plain line every 10% so logs stay readable; with
// --json or --quiet they stay silent so stdout carries only the result.
import cliProgress from "cli-progress";

export type Progress = {
  /** Advance by `by` (default 1) and show `detail` (e.g. "loss 1.23"). */
  tick(by?: number, detail?: string): void;
  /** Change the total when it becomes known late. */
  setTotal(total: number): void;
  stop(): void;
};

export type ProgressMode = "bar" | "lines" | "silent";

export function progressMode(options: { json?: boolean; quiet?: boolean } = {}): ProgressMode {
  if (options.quiet || options.json) return "silent";
  return process.stderr.isTTY ? "bar" : "lines";
}

const formatSeconds = (seconds: number) =>
  !Number.isFinite(seconds)
    ? "?"
    : seconds >= 90
      ? `${Math.floor(seconds / 60)}m${Math.round(seconds % 60)}s`
      : `${Math.round(seconds)}s`;

export function createProgress(label: string, total: number, mode: ProgressMode): Progress {
  if (mode === "silent") return { tick() {}, setTotal() {}, stop() {} };
  if (mode === "bar") {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label.padEnd(24)} [{bar}] {value}/{total} | ETA {eta_formatted} | {detail}`,
        stream: process.stderr,
        hideCursor: true,
        etaBuffer: 20,
        clearOnComplete: false,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { detail: "" });
    let value = 0;
    return {
      tick(by = 1, detail = "") {
        value += by;
        bar.update(value, { detail });
      },
      setTotal(next) {
        bar.setTotal(next);
      },
      stop() {
        bar.stop();
      },
    };
  }
  const started = Date.now();
  let value = 0;
  let lastDecile = -1;
  return {
    tick(by = 1, detail = "") {
      value += by;
      const decile = Math.floor((value / Math.max(1, total)) * 10);
      if (decile === lastDecile && value < total) return;
      lastDecile = decile;
      const elapsed = (Date.now() - started) / 1000;
      const eta = value > 0 ? (elapsed / value) * (total - value) : Number.NaN;
      process.stderr.write(
        `${label}: ${value}/${total} (${Math.round((value / Math.max(1, total)) * 100)}%) ETA ${formatSeconds(eta)}${detail ? ` ${detail}` : ""}\n`,
      );
    },
    setTotal(next) {
      total = next;
    },
    stop() {},
  };
}
