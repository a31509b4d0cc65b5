import { randomBytes } from "node:crypto";
import { mkdir, open, unlink } from "node:fs/promises";
import { join } from "node:path";
import { removeStaleTempFiles } from "@operator-tool/atomic-file";
import { pathUnusableErrorFrom } from "@operator-tool/errors";
import { listRunIds, runsDir } from "./run-record.js";

/**
 * Proves the staging root and the directories a run writes to can be
 * written, before anything is fetched: creates them and a probe file in each.
 * An immutable, read-only, full or mis-owned location, or a file where a
 * directory belongs, fails here as PATH_UNUSABLE naming the path and the fix.
 */
export async function checkStagingRoot(stagingRoot: string, dirs: readonly string[] = []): Promise<void> {
  const subject = `the staging root ${stagingRoot} (--staging-root)`;
  for (const dir of [stagingRoot, runsDir(stagingRoot), ...dirs]) {
    try {
      await mkdir(dir, { recursive: true });
      const probe = join(dir, `.write-probe.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
      const handle = await open(probe, "wx");
      try {
        await handle.writeFile("operator-tool write probe\n");
      } finally {
        await handle.close();
      }
      await unlink(probe);
    } catch (error) {
      throw pathUnusableErrorFrom(error, { subject }) ?? error;
    }
  }
}

/**
 * Removes what killed runs left mid-write: temp files (and lock directories
 * being taken or released) in the staging root, in every run's directory,
 * and in `dirs` (tilesets). Only files whose writer pid is gone are touched.
 */
export async function removeStaleStagingTempFiles(
  stagingRoot: string,
  dirs: readonly string[] = [],
): Promise<number> {
  const runDirs = listRunIds(stagingRoot).map((id) => join(runsDir(stagingRoot), id));
  let removed = 0;
  for (const dir of [stagingRoot, ...runDirs, ...dirs]) removed += await removeStaleTempFiles(dir);
  return removed;
}
