import { basename, dirname } from "node:path";
import { isTempFile } from "@operator-tool/atomic-file";
import { OperatorToolError, type OperatorToolErrorOptions } from "@operator-tool/errors";

/** The tile download cannot go on; `TILE_DOWNLOAD_FAILED`, exit 20. */
export class TileDownloadError extends OperatorToolError {
  constructor(message: string, options?: OperatorToolErrorOptions) {
    super("TILE_DOWNLOAD_FAILED", message, options);
  }
}

/** What each filesystem error an operator can cause means, and what to do about it. */
const OPERATOR_FIXABLE: Record<string, { what: string; fix: string }> = {
  EACCES: { what: "permission denied", fix: "make it writable by this user" },
  EPERM: {
    what: "operation not permitted",
    fix: "make it writable by this user (an immutable directory needs `chattr -i`)",
  },
  EROFS: { what: "the filesystem is read-only", fix: "remount it read-write" },
  ENOSPC: { what: "no space left on the device", fix: "free space there (finished tiles are kept)" },
  EDQUOT: {
    what: "the disk quota is used up",
    fix: "free space or raise the quota (finished tiles are kept)",
  },
  ENOTDIR: { what: "a part of the path is a file, not a directory", fix: "move that file away" },
  EEXIST: { what: "a file is where a directory is needed", fix: "move that file away" },
};

/**
 * The error to report for a failed write under the staging root: one line
 * naming the path, what is wrong and the fix, when the operator can fix it;
 * otherwise undefined (the failure is not theirs to fix, and stays as it is).
 */
export function cacheWriteError(error: unknown, fallbackPath: string): TileDownloadError | undefined {
  const { code, path } = error as NodeJS.ErrnoException;
  const known = code === undefined ? undefined : OPERATOR_FIXABLE[code];
  if (known === undefined) return undefined;
  // A temp file the write could not create means nothing to the operator: its directory does.
  const where = path === undefined ? fallbackPath : isTempFile(basename(path)) ? dirname(path) : path;
  return new TileDownloadError(`cannot write the tile cache at ${where}: ${known.what} (${code})`, {
    hint: `${known.fix}, or choose another --staging-root`,
    cause: error,
  });
}
