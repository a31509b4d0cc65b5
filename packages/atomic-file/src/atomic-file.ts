import { randomBytes } from "node:crypto";
import { open, readdir, rename, rm, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

export interface WriteAtomicOptions {
  mode?: number;
  /**
   * `file` (default): fsync the data before the rename. `none`: skip it; the
   * rename stays atomic, but after a power cut the file may be there and empty.
   */
  durability?: "file" | "none";
}

const TEMP_MARK = ".tmp-";

// Random once per process, then a counter: unique without a trip to the
// CSPRNG per file (measurable at tens of thousands of tiles).
const tempPrefix = `${TEMP_MARK}${process.pid}-${randomBytes(4).toString("hex")}`;
let tempCounter = 0;

/**
 * `.<name>.tmp-<pid>-<random><n>` beside the target: same directory, so the
 * rename is atomic; the pid lets a later run tell an abandoned temp file from
 * one still being written.
 */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}${tempPrefix}${(tempCounter++).toString(36)}`);
}

export function isTempFile(name: string): boolean {
  return name.startsWith(".") && name.includes(TEMP_MARK);
}

/**
 * Writes `data` so that `path` holds either its old content or all of the new,
 * whatever instant the process dies at: temp file, fsync, rename.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: WriteAtomicOptions = {},
): Promise<void> {
  const temp = tempPathFor(path);
  const handle = await open(temp, "wx", options.mode ?? 0o644);
  try {
    await handle.writeFile(data);
    if (options.durability !== "none") await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await handle.close();
  await commitTempFile(temp, path);
}

/**
 * Renames a finished temp file into place (after an fsync when asked: for
 * files another program wrote); removes it if that fails.
 */
export async function commitTempFile(
  temp: string,
  path: string,
  options: { fsync?: boolean } = {},
): Promise<void> {
  try {
    if (options.fsync) {
      const handle = await open(temp, "r+");
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

export async function writeJsonAtomic(
  path: string,
  value: unknown,
  options?: WriteAtomicOptions,
): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, options);
}

/**
 * Removes temp files in `dir` whose writer is gone (its pid no longer runs),
 * the debris of a kill mid-write. Returns how many were removed.
 */
export async function removeStaleTempFiles(dir: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    if (!isTempFile(name)) continue;
    const pid = Number(/\.tmp-(\d+)-/.exec(name)?.[1]);
    if (pid === process.pid || (Number.isInteger(pid) && processAlive(pid))) continue;
    await rm(join(dir, name), { force: true, recursive: true });
    removed++;
  }
  return removed;
}

/** Whether a pid is running on this host (EPERM: it is, but not ours). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
