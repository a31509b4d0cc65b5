// Runs inside a worker thread of `PipelinedAtomicWriter`: hashes each file
// and hands it to a GroupCommitWriter of its own, the same one a caller may
// run on its own thread. What the thread adds is only that the writing (and
// any wait on the disk) happens off the caller's thread.
import { parentPort, workerData } from "node:worker_threads";
import { sha256Hex } from "./file-digest.js";
import { GroupCommitWriter, type GroupCommitWriterOptions } from "./group-commit-writer.js";

export interface WriteJob {
  id: number;
  path: string;
  data: Uint8Array;
  /** When set, a body with another digest is refused before anything is written. */
  expectedSha256: string | undefined;
}

export interface WriteOutcome {
  id: number;
  sha256: string;
  mtimeMs: number;
  error: { message: string; code: string | undefined; path: string | undefined } | undefined;
}

/** Files to write, or `flush`: commit the open group now (the caller is draining). */
export type WriterMessage = WriteJob[] | "flush";

const writer = new GroupCommitWriter(workerData as GroupCommitWriterOptions);
let outbox: WriteOutcome[] = [];
let sendScheduled = false;

/** Outcomes go back in batches: every message wakes the caller's thread. */
function report(outcome: WriteOutcome): void {
  outbox.push(outcome);
  if (sendScheduled) return;
  sendScheduled = true;
  setImmediate(() => {
    sendScheduled = false;
    parentPort?.postMessage(outbox);
    outbox = [];
  });
}

async function handle(message: WriterMessage): Promise<void> {
  if (message === "flush") {
    writer.flush();
    return;
  }
  for (const job of message) {
    const sha256 = sha256Hex(job.data);
    if (job.expectedSha256 !== undefined && sha256 !== job.expectedSha256) {
      const error = {
        message: `sha256 ${sha256}, expected ${job.expectedSha256}; not written`,
        code: "EDIGEST",
      };
      report({ id: job.id, sha256, mtimeMs: 0, error: { ...error, path: job.path } });
      continue;
    }
    await writer.write(job.path, job.data, (error, committed) => {
      if (committed !== undefined) {
        report({ id: job.id, sha256, mtimeMs: committed.mtimeMs, error: undefined });
        return;
      }
      const { message, code, path } = error as NodeJS.ErrnoException;
      report({ id: job.id, sha256, mtimeMs: 0, error: { message, code, path } });
    });
  }
}

// One message at a time, in order: a write may wait while groups sync.
let queue = Promise.resolve();
parentPort?.on("message", (message: WriterMessage) => {
  queue = queue.then(() => handle(message));
});
