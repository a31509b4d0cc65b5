// Synchronous temp-file steps of the batch writer: at tens of thousands of
// small files, a plain syscall is cheaper than a hand-off to libuv's pool.
import { closeSync, fstatSync, fsyncSync, openSync, unlinkSync, writeSync } from "node:fs";

/**
 * Writes `data` to a new file at `temp` (fsynced when asked), closes it and
 * returns its mtime. On failure nothing is left at `temp` and the error is thrown.
 */
export function writeTempFileSync(temp: string, data: Uint8Array, fsync: boolean): number {
  let fd: number | undefined;
  try {
    fd = openSync(temp, "wx", 0o644);
    for (let offset = 0; offset < data.length; ) offset += writeSync(fd, data, offset, data.length - offset);
    if (fsync) fsyncSync(fd);
    const { mtimeMs } = fstatSync(fd);
    const open = fd;
    fd = undefined; // a failing close must not be closed again below
    closeSync(open);
    return mtimeMs;
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    removeQuietly(temp);
    throw error;
  }
}

/** One fsync per file: where a single syncfs for a whole group cannot be had. */
export function fsyncEachSync(paths: readonly string[]): void {
  for (const path of paths) {
    const fd = openSync(path, "r+");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

export function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // never created, or gone already
  }
}
