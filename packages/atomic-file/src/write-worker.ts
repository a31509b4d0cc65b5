// Runs inside a worker thread of `PipelinedAtomicWriter`. Files are written
// with plain synchronous syscalls on this thread: handing every open, write,
// fsync, close and rename to libuv's pool costs a thread wake-up per call,
// which at tens of thousands of tiles outweighed the work itself.
//
// Durability comes in groups where the system allows it: the temp files of a
// group are written, one syncfs(2) (`sync -f`, through a helper shell, while
// this thread writes the next group) makes all of them durable at once, and
// only then are they renamed into place. A file is never renamed
// before its data is on disk, exactly as with one fsync per file, but the
// filesystem commits its journal once per group instead of once per file.
import { createHash } from "node:crypto";
import { renameSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { SyncfsRunner } from "./sync-command.js";
import { removeQuietly, writeTempFileSync } from "./temp-file-sync.js";

export interface WriteJob {
  id: number;
  path: string;
  temp: string;
  data: Uint8Array;
  /** When set, a body with another digest is refused before anything is written. */
  expectedSha256: string | undefined;
}

export interface WriteOutcome {
  id: number;
  sha256: string;
  mtimeMs: number;
  error: { message: string; code: string | undefined } | undefined;
}

export interface WriterThreadSettings {
  /** `none`: rename without syncing; `file`: fsync each file; `group`: one syncfs per group. */
  durability: "none" | "file" | "group";
  groupMaxFiles: number;
  groupMaxBytes: number;
  /**
   * How long a partial group waits for more files before it is committed:
   * each group costs a syncfs, so a group should span a fair slice of a
   * download, not one network round trip.
   */
  groupDelayMs: number;
}

interface WrittenFile {
  job: WriteJob;
  sha256: string;
  mtimeMs: number;
  /** Fsynced as it was written (per-file durability at the time). */
  fsynced: boolean;
}

const settings = workerData as WriterThreadSettings;
let durability = settings.durability;
let group: WrittenFile[] = [];
let groupBytes = 0;
let groupTimer: NodeJS.Timeout | undefined;
let outbox: WriteOutcome[] = [];

function failure(id: number, sha256: string, error: unknown): WriteOutcome {
  const { message, code } = error as NodeJS.ErrnoException;
  return { id, sha256, mtimeMs: 0, error: { message, code } };
}

/** Writes the temp file (fsynced when durability is per file); returns what is left to do. */
function writeTemp(job: WriteJob): WrittenFile | WriteOutcome {
  const sha256 = createHash("sha256").update(job.data).digest("hex");
  if (job.expectedSha256 !== undefined && sha256 !== job.expectedSha256) {
    const message = `sha256 ${sha256}, expected ${job.expectedSha256}; not written`;
    return { id: job.id, sha256, mtimeMs: 0, error: { message, code: "EDIGEST" } };
  }
  const fsynced = durability === "file";
  try {
    return { job, sha256, mtimeMs: writeTempFileSync(job.temp, job.data, fsynced), fsynced };
  } catch (error) {
    return failure(job.id, sha256, error);
  }
}

function rename(file: WrittenFile): WriteOutcome {
  try {
    renameSync(file.job.temp, file.job.path);
    return { id: file.job.id, sha256: file.sha256, mtimeMs: file.mtimeMs, error: undefined };
  } catch (error) {
    removeQuietly(file.job.temp);
    return failure(file.job.id, file.sha256, error);
  }
}

const syncfs = new SyncfsRunner();

/** Makes every file of the group durable: one syncfs, or one fsync each where syncfs is unavailable. */
async function syncGroup(files: WrittenFile[]): Promise<void> {
  // Files written before a switch to per-file durability still need their sync.
  const unsynced = files.filter((file) => !file.fsynced).map((file) => file.job.temp);
  if (!(await syncfs.makeDurable(unsynced))) durability = "file";
}

/**
 * Starts committing the open group; this thread goes on writing the next
 * one meanwhile, and the group's files are renamed once its sync returns.
 */
function commitGroup(): void {
  if (groupTimer !== undefined) clearTimeout(groupTimer);
  groupTimer = undefined;
  const files = group;
  group = [];
  groupBytes = 0;
  if (files.length === 0) return;
  syncGroup(files).then(
    () => {
      for (const file of files) outbox.push(rename(file));
      sendOutcomes();
    },
    (error: unknown) => {
      for (const file of files) {
        removeQuietly(file.job.temp);
        outbox.push(failure(file.job.id, file.sha256, error));
      }
      sendOutcomes();
    },
  );
}

function sendOutcomes(): void {
  if (outbox.length === 0) return;
  parentPort?.postMessage(outbox);
  outbox = [];
}

/** A message is either files to write or a request to commit the open group now (the writer is draining). */
parentPort?.on("message", (jobs: WriteJob[] | "flush") => {
  if (jobs === "flush") {
    commitGroup();
    return;
  }
  for (const job of jobs) {
    const written = writeTemp(job);
    if (!("job" in written)) outbox.push(written);
    else if (durability !== "group") outbox.push(rename(written));
    else {
      group.push(written);
      groupBytes += job.data.length;
      if (group.length >= settings.groupMaxFiles || groupBytes >= settings.groupMaxBytes) commitGroup();
    }
  }
  sendOutcomes();
  if (group.length > 0 && groupTimer === undefined)
    groupTimer = setTimeout(commitGroup, settings.groupDelayMs);
});
