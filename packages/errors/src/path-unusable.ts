import { statSync } from "node:fs";
import { dirname } from "node:path";
import { OperatorToolError } from "./operator-tool-error.js";

/**
 * A file or directory operator-tool must use and cannot: no permission, an
 * immutable or read-only filesystem, a full disk, a file where a directory
 * belongs. An operator's (or the machine's) problem, never a bug, so it
 * names the path to change and how.
 */
export class PathUnusableError extends OperatorToolError {
  constructor(
    /** The path the operator has to change (for a file in the way: that file). */
    readonly path: string,
    readonly errno: string,
    message: string,
    hint: string,
    cause?: unknown,
  ) {
    super("PATH_UNUSABLE", message, { hint, cause });
  }
}

/** errno codes an operator (or the machine) causes: what they say about the path, and the fix. */
const OPERATOR_CAUSED: Readonly<Record<string, { what: (p: string) => string; fix: (p: string) => string }>> =
  {
    EACCES: {
      what: (p) => `permission denied on ${p}`,
      fix: (p) => `give this user write access to ${p} (ls -ld ${p}), or choose another location`,
    },
    EPERM: {
      what: (p) => `${p} is immutable or protected`,
      fix: (p) => `check its attributes and owner (lsattr -d ${p}; ls -ld ${p}), or choose another location`,
    },
    EROFS: {
      what: (p) => `${p} is on a read-only filesystem`,
      fix: () => "choose a location on a writable filesystem",
    },
    ENOSPC: {
      what: (p) => `no space left on the device of ${p}`,
      fix: (p) => `free space on the filesystem of ${p} (df -h ${p}), then re-run`,
    },
    EDQUOT: {
      what: (p) => `disk quota exceeded on ${p}`,
      fix: (p) => `free space in your quota on the filesystem of ${p}, then re-run`,
    },
    ENOTDIR: {
      what: (p) => `${p} is a file, where a directory belongs`,
      fix: (p) => `move ${p} out of the way, or choose another location`,
    },
    EISDIR: {
      what: (p) => `${p} is a directory, where a file belongs`,
      fix: (p) => `move ${p} out of the way`,
    },
    EEXIST: {
      what: (p) => `${p} already exists and is not a directory`,
      fix: (p) => `move ${p} out of the way, or choose another location`,
    },
    ENOENT: {
      what: (p) => `${p} does not exist (removed while operator-tool ran?)`,
      fix: (p) => `check that ${p} and its parent directories exist, then re-run`,
    },
    ELOOP: {
      what: (p) => `too many symbolic links on the way to ${p}`,
      fix: (p) => `check the symbolic links on the way to ${p}`,
    },
    ENAMETOOLONG: { what: (p) => `the path ${p} is too long`, fix: () => "choose a shorter location" },
    EMFILE: {
      what: () => "too many files are open",
      fix: () => "raise the open-file limit (ulimit -n), then re-run",
    },
  };

const VERBS: Readonly<Record<string, string>> = {
  open: "write",
  mkdir: "create the directory",
  rename: "write",
  unlink: "remove",
  rmdir: "remove",
  rm: "remove",
  write: "write",
  scandir: "list",
  stat: "read",
  lstat: "read",
  utime: "update",
  fsync: "write",
  copyfile: "copy to",
  read: "read",
};

export interface PathUnusableContext {
  /** What the operator named, e.g. `--staging-root /srv/cache`: the message leads with it. */
  subject?: string;
}

/**
 * The operator-facing form of a filesystem error (Node's `ErrnoException`
 * with a `path`), or undefined when it is not one an operator can fix.
 */
export function pathUnusableErrorFrom(
  error: unknown,
  context: PathUnusableContext = {},
): PathUnusableError | undefined {
  if (error instanceof PathUnusableError) return error;
  if (!(error instanceof Error)) return undefined;
  const { code, path, dest, syscall } = error as NodeJS.ErrnoException & { dest?: string };
  if (typeof code !== "string" || typeof path !== "string") return undefined;
  const known = OPERATOR_CAUSED[code];
  if (known === undefined) return undefined;
  // rename names both ends; the destination is the one operator-tool was writing.
  const where = syscall === "rename" && typeof dest === "string" ? dest : path;
  const culprit = culpritOf(where, code);
  const what = `${known.what(culprit)} (${code})`;
  const message =
    context.subject === undefined
      ? `cannot ${VERBS[syscall ?? ""] ?? "use"} ${where}: ${what}`
      : `${context.subject} cannot be used: ${what}`;
  return new PathUnusableError(culprit, code, message, known.fix(culprit), error);
}

/**
 * The path the operator has to change: for ENOTDIR the file standing in the
 * way; for a refused new file, the nearest directory that exists.
 */
function culpritOf(path: string, code: string): string {
  if (code === "ENOTDIR") {
    for (let dir = dirname(path); dir !== dirname(dir); dir = dirname(dir)) {
      const stat = statQuietly(dir);
      if (stat !== undefined && !stat.isDirectory()) return dir;
    }
    return path;
  }
  if (code === "EACCES" || code === "EPERM" || code === "EROFS" || code === "ENOSPC" || code === "EDQUOT") {
    let at = path;
    while (at !== dirname(at) && statQuietly(at) === undefined) at = dirname(at);
    return at;
  }
  return path;
}

function statQuietly(path: string): ReturnType<typeof statSync> {
  try {
    return statSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}
