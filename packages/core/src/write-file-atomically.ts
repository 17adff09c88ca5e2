// The one atomic file writer of the monorepo: checkpoints, adapters, configs, GGUF files and the CLI's
// reports all go through it, so a reader (or a resumed run) never sees half a file.
import fs from "node:fs";
import path from "node:path";
import { CheckpointError } from "./errors.js";

/** Node's writes take at most 2 GiB at a time. */
const MAX_WRITE_BYTES = 1 << 30;

/**
 * Writes `filePath` atomically: a temporary file beside it, fsync, then rename over the target. The
 * contents are text (UTF-8), bytes, or a callback that writes to the open descriptor (for files
 * streamed in pieces). Errors are `CheckpointError`s (`E_WRITE`) naming the file; the temporary file
 * is removed. The parent folder must exist.
 */
export function writeFileAtomically(filePath: string, contents: string | Uint8Array | ((fd: number) => void)): void {
  const temporary = `${filePath}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  let fd: number | null = null;
  try {
    fd = fs.openSync(temporary, "w");
    if (typeof contents === "function") contents(fd);
    else writeAll(fd, typeof contents === "string" ? Buffer.from(contents, "utf8") : contents);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(temporary, filePath);
  } catch (error) {
    if (fd !== null) fs.closeSync(fd);
    fs.rmSync(temporary, { force: true });
    if (error instanceof CheckpointError) throw error;
    throw new CheckpointError("E_WRITE", `cannot write (${(error as Error).message})`, { file: filePath });
  }
  // Persist the rename itself; not every platform lets a directory be fsynced, which is harmless.
  try {
    const directory = fs.openSync(path.dirname(filePath), "r");
    try {
      fs.fsyncSync(directory);
    } finally {
      fs.closeSync(directory);
    }
  } catch {
    // best effort
  }
}

/** Writes all of `bytes` at the descriptor's position (a single writeSync may write fewer). */
export function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, Math.min(bytes.length - done, MAX_WRITE_BYTES));
}
