import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join } from "node:path";

export interface FindExecutableOptions {
  /** The directories to search, `PATH`-style; default `process.env.PATH`, or `/usr/bin:/bin` when unset. */
  searchPath?: string;
  /** Full paths tried, in order, after the search path. */
  fallbacks?: readonly string[];
}

/**
 * The first executable regular file called `name` in the search path, else
 * the first executable fallback; undefined when there is none. Empty entries
 * are skipped: read as "the current directory" they would run whatever lies
 * where the operator happens to stand.
 */
export function findExecutable(name: string, options: FindExecutableOptions = {}): string | undefined {
  const searchPath = options.searchPath ?? process.env.PATH ?? "/usr/bin:/bin";
  const candidates = searchPath
    .split(delimiter)
    .filter((dir) => dir !== "")
    .map((dir) => join(dir, name));
  return [...candidates, ...(options.fallbacks ?? [])].find(isExecutableFile);
}

function isExecutableFile(path: string): boolean {
  // X_OK alone is true for a directory too.
  if (statSync(path, { throwIfNoEntry: false })?.isFile() !== true) return false;
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
