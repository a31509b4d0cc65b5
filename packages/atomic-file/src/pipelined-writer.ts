import { execFile } from "node:child_process";
import { close, fsync, open, rename, unlink, writeFile } from "node:fs";
import { promisify } from "node:util";
import { tempPathFor } from "./atomic-file.js";

// The callback API, promisified: much cheaper per call than fs/promises'
// FileHandle, which matters at tens of thousands of files.
const openFd = promisify(open);
const writeFd = promisify(writeFile);
const syncFd = promisify(fsync);
const closeFd = promisify(close);
const renameFile = promisify(rename);
const unlinkFile = promisify(unlink);
const run = promisify(execFile);

interface Staged {
  temp: string;
  path: string;
  onCommitted: (error?: Error) => void;
}

export interface PipelinedWriterOptions {
  /** Temp files being written at once. */
  maxWriting?: number;
  /** Files accepted but not yet renamed into place (written, waiting for their batch). */
  maxPending?: number;
  /** Files made durable together by one filesystem sync, then renamed. */
  batchSize?: number;
  /** A partial batch is committed after this long, so slow producers still see files land. */
  batchDelayMs?: number;
  fsync?: boolean;
}

/**
 * Atomic writes for many small files (tiles), pipelined and batched: each
 * file goes to a temp file beside its target; a batch of them is made durable
 * with one `syncfs` (coreutils `sync -f`; per-file fsync where that is
 * unavailable) and only then renamed into place. Same guarantee as
 * `writeFileAtomic` — a final path holds nothing or the whole, synced file,
 * whenever the process dies — at a fraction of the per-file cost. One writer
 * serves one filesystem (the syncfs covers the filesystem of its batch).
 */
export class PipelinedAtomicWriter {
  readonly #options: Required<PipelinedWriterOptions>;
  #writing = 0;
  #pending = 0;
  #batch: Staged[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #waiters: Array<() => void> = [];
  #idle: Array<() => void> = [];
  static #syncfsWorks: boolean | undefined;

  constructor(options: PipelinedWriterOptions = {}) {
    this.#options = {
      maxWriting: 64,
      maxPending: 2048,
      batchSize: 512,
      batchDelayMs: 250,
      fsync: true,
      ...options,
    };
  }

  /**
   * Resolves once the write is accepted (within the writing and pending
   * limits); `onCommitted` is called when the file is at `path`, or with the error.
   */
  async write(path: string, data: Uint8Array, onCommitted: (error?: Error) => void): Promise<void> {
    while (this.#writing >= this.#options.maxWriting || this.#pending >= this.#options.maxPending) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    this.#writing++;
    this.#pending++;
    const temp = tempPathFor(path);
    void this.#writeTemp(temp, data).then(
      () => {
        this.#writing--;
        this.#batch.push({ temp, path, onCommitted });
        if (this.#batch.length >= this.#options.batchSize) this.#startFlush();
        else this.#timer ??= setTimeout(() => this.#startFlush(), this.#options.batchDelayMs);
        this.#wake();
      },
      (error: Error) => {
        this.#writing--;
        this.#settle(1);
        onCommitted(error);
      },
    );
  }

  /** Waits until every accepted write has been committed or failed. */
  async drain(): Promise<void> {
    while (this.#pending > 0) {
      if (this.#writing === 0 && this.#batch.length > 0) this.#startFlush();
      await new Promise<void>((resolve) => this.#idle.push(resolve));
    }
  }

  async #writeTemp(temp: string, data: Uint8Array): Promise<void> {
    const fd = await openFd(temp, "wx", 0o644);
    try {
      await writeFd(fd, data);
    } catch (error) {
      await closeFd(fd).catch(() => undefined);
      await unlinkFile(temp).catch(() => undefined);
      throw error;
    }
    await closeFd(fd);
  }

  #startFlush(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const batch = this.#batch.splice(0);
    if (batch.length === 0) return;
    this.#flushing = this.#flushing.then(() => this.#commit(batch));
  }

  async #commit(batch: Staged[]): Promise<void> {
    let syncError: Error | undefined;
    if (this.#options.fsync) {
      try {
        await syncBatch(batch.map((s) => s.temp));
      } catch (error) {
        syncError = error as Error;
      }
    }
    await Promise.all(
      batch.map(async (staged) => {
        try {
          if (syncError) throw syncError;
          await renameFile(staged.temp, staged.path);
          staged.onCommitted();
        } catch (error) {
          await unlinkFile(staged.temp).catch(() => undefined);
          staged.onCommitted(error as Error);
        }
      }),
    );
    this.#settle(batch.length);
  }

  #settle(count: number): void {
    this.#pending -= count;
    this.#wake();
    // Wake drain() on every settlement: it re-checks, and flushes a partial batch once writing stops.
    for (const resolve of this.#idle.splice(0)) resolve();
  }

  #wake(): void {
    for (const resolve of this.#waiters.splice(0)) resolve();
  }

  /** One syncfs for the batch's filesystem when the platform has it; else fsync each file. */
  static async syncfsAvailable(probe: string): Promise<boolean> {
    if (PipelinedAtomicWriter.#syncfsWorks === undefined) {
      PipelinedAtomicWriter.#syncfsWorks =
        process.platform === "linux" &&
        (await run("sync", ["-f", probe]).then(
          () => true,
          () => false,
        ));
    }
    return PipelinedAtomicWriter.#syncfsWorks;
  }
}

async function syncBatch(temps: string[]): Promise<void> {
  if (await PipelinedAtomicWriter.syncfsAvailable(temps[0]!)) {
    await run("sync", ["-f", temps[0]!]);
    return;
  }
  await Promise.all(
    temps.map(async (temp) => {
      const fd = await openFd(temp, "r+");
      try {
        await syncFd(fd);
      } finally {
        await closeFd(fd);
      }
    }),
  );
}
