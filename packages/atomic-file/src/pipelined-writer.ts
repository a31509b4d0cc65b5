import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { builtScript } from "./built-script.js";
import type { CommittedFile, Durability, GroupCommitWriterOptions } from "./group-commit-writer.js";
import type { WriteJob, WriteOutcome, WriterMessage } from "./write-worker.js";

/** What a committed file ended up as, with the digest of what was written. */
export interface PipelinedCommit extends CommittedFile {
  sha256: string;
}

export interface PipelinedWriteOptions {
  /** Refuse the file (error code `EDIGEST`) unless its sha256 is this. */
  expectedSha256?: string | undefined;
  /**
   * Hand `data`'s memory to the writer thread instead of copying it; `data`
   * is unusable (empty) afterwards. Only when `data` spans its whole
   * ArrayBuffer; otherwise it is copied as usual.
   */
  transfer?: boolean;
}

/** The failure of one write: `code` is the errno code (`EDIGEST` for a digest mismatch), `path` the file. */
export class PipelinedWriteError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly path: string | undefined,
  ) {
    super(message);
    this.name = "PipelinedWriteError";
  }
}

export interface PipelinedAtomicWriterOptions {
  /** As for GroupCommitWriter: `group` by default on Linux, `file` elsewhere. */
  durability?: Durability;
  /** Files per group under `group` durability. */
  groupMaxFiles?: number;
  /** Files accepted but not yet committed before `write` waits. */
  maxInFlight?: number;
  /** Bytes accepted but not yet committed before `write` waits (one file is always let through). */
  maxInFlightBytes?: number;
  threads?: number;
}

const BATCH_FILES = 32;
const BATCH_DELAY_MS = 5;

type OnCommitted = (error: Error | undefined, committed: PipelinedCommit | undefined) => void;

interface WriterThread {
  worker: Worker;
  /** Ids handed to this thread and not settled yet. */
  pending: Set<number>;
  batch: WriteJob[];
  transferList: ArrayBuffer[];
}

/**
 * `GroupCommitWriter` on writer threads, for a caller that must not wait on
 * the disk (the tile downloader: a write that stalls, in a sync or in the
 * kernel's throttling of dirty pages, would stall the downloads on the same
 * thread). The caller hands a file over and moves on; a thread hashes it and
 * writes it through its own GroupCommitWriter, the same guarantee and the
 * same grouped syncs; the sha256 comes back with the commit.
 */
export class PipelinedAtomicWriter {
  readonly #maxInFlight: number;
  readonly #maxInFlightBytes: number;
  readonly #threadCount: number;
  readonly #settings: GroupCommitWriterOptions;
  readonly #threads: WriterThread[] = [];
  /** Every accepted write not yet settled, by id: its size is what is in flight. */
  readonly #callbacks = new Map<number, { onCommitted: OnCommitted; bytes: number }>();
  #nextId = 0;
  #inFlightBytes = 0;
  #flushTimer: NodeJS.Timeout | undefined;
  #waiters: Array<() => void> = [];
  #idle: Array<() => void> = [];

  constructor(options: PipelinedAtomicWriterOptions = {}) {
    const durability = options.durability ?? (process.platform === "linux" ? "group" : "file");
    const groupMaxFiles = options.groupMaxFiles ?? 512;
    // Each group costs a syncfs: it should span a fair slice of a download, not one round trip.
    this.#settings = { durability, groupMaxFiles, groupDelayMs: 250, maxCommitting: 4 };
    // Per-file fsyncs overlap only across threads. A grouped thread writes
    // the next group while the last one syncs, so one keeps up with a core's
    // worth of downloading; on two cores a second one only takes turns with
    // the thread receiving the tiles (measured: slower).
    this.#threadCount = Math.max(
      1,
      options.threads ?? (durability === "file" ? 4 : availableParallelism() > 2 ? 2 : 1),
    );
    // Room for groups syncing while the next ones fill.
    this.#maxInFlight = options.maxInFlight ?? (durability === "group" ? 4 * groupMaxFiles : 64);
    this.#maxInFlightBytes = options.maxInFlightBytes ?? 256 * 1024 * 1024;
  }

  /**
   * Resolves once the write is accepted (fewer than `maxInFlight` pending);
   * `onCommitted` is called when the file is at `path` (with its sha256), or
   * with the error. `data` must not be modified until then.
   */
  async write(
    path: string,
    data: Uint8Array,
    onCommitted: OnCommitted,
    options: PipelinedWriteOptions = {},
  ): Promise<void> {
    const full = () =>
      this.#callbacks.size >= this.#maxInFlight ||
      (this.#callbacks.size > 0 && this.#inFlightBytes + data.byteLength > this.#maxInFlightBytes);
    if (full()) {
      // Full: open groups must not sit out their timers while the caller waits.
      this.#commitOpenGroups();
      while (full()) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    this.#inFlightBytes += data.byteLength;
    const id = this.#nextId++;
    this.#callbacks.set(id, { onCommitted, bytes: data.byteLength });
    const thread = this.#leastBusyThread();
    thread.pending.add(id);
    if (thread.pending.size === 1) thread.worker.ref();
    thread.batch.push({ id, path, data, expectedSha256: options.expectedSha256 });
    const memory = data.buffer;
    if (
      options.transfer === true &&
      memory instanceof ArrayBuffer &&
      data.byteOffset === 0 &&
      data.byteLength === memory.byteLength
    )
      thread.transferList.push(memory);
    // Files travel in batches: every message wakes a thread, and waking
    // threads is what costs here. A few milliseconds of delay is harmless.
    if (thread.batch.length >= BATCH_FILES) this.#send(thread);
    else if (this.#flushTimer === undefined) {
      this.#flushTimer = setTimeout(() => this.#flush(), BATCH_DELAY_MS);
      this.#flushTimer.unref();
    }
  }

  /** Waits until every accepted write has been committed or failed. */
  async drain(): Promise<void> {
    if (this.#callbacks.size === 0) return;
    this.#commitOpenGroups();
    await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  /** Drains, then stops the worker threads. */
  async close(): Promise<void> {
    await this.drain();
    await Promise.all(this.#threads.splice(0).map((t) => t.worker.terminate()));
  }

  /** Sends what is batched and asks every busy thread to commit its open group now. */
  #commitOpenGroups(): void {
    this.#flush();
    for (const thread of this.#threads)
      if (thread.pending.size > 0) thread.worker.postMessage("flush" satisfies WriterMessage);
  }

  #leastBusyThread(): WriterThread {
    let best: WriterThread | undefined;
    for (const t of this.#threads) if (best === undefined || t.pending.size < best.pending.size) best = t;
    if (best === undefined || (best.pending.size > 0 && this.#threads.length < this.#threadCount))
      return this.#startThread();
    return best;
  }

  #startThread(): WriterThread {
    // No execArgv: flags the process was started with (--input-type, --cpu-prof) are not for this thread.
    const worker = new Worker(builtScript("write-worker.js", import.meta.url), {
      workerData: this.#settings,
      execArgv: [],
    });
    worker.unref();
    const thread: WriterThread = { worker, pending: new Set(), batch: [], transferList: [] };
    worker.on("message", (outcomes: WriteOutcome[]) => {
      for (const outcome of outcomes) this.#settle(thread, outcome);
    });
    worker.on("error", (error) => this.#failThread(thread, error));
    worker.on("exit", (code) => this.#failThread(thread, new Error(`the writer thread exited (${code})`)));
    this.#threads.push(thread);
    return thread;
  }

  #flush(): void {
    if (this.#flushTimer !== undefined) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    for (const thread of this.#threads) this.#send(thread);
  }

  #send(thread: WriterThread): void {
    if (thread.batch.length === 0) return;
    thread.worker.postMessage(thread.batch satisfies WriterMessage, thread.transferList);
    thread.batch = [];
    thread.transferList = [];
  }

  #settle(thread: WriterThread, outcome: WriteOutcome): void {
    const entry = this.#callbacks.get(outcome.id);
    if (entry === undefined) return;
    const callback = entry.onCommitted;
    this.#callbacks.delete(outcome.id);
    this.#inFlightBytes -= entry.bytes;
    thread.pending.delete(outcome.id);
    if (thread.pending.size === 0) thread.worker.unref();
    if (outcome.error !== undefined) {
      const { message, code, path } = outcome.error;
      callback(new PipelinedWriteError(message, code, path), undefined);
    } else {
      callback(undefined, { sha256: outcome.sha256, mtimeMs: outcome.mtimeMs });
    }
    // Wake every waiter: each re-checks, and a byte limit may admit several or none.
    for (const wake of this.#waiters.splice(0)) wake();
    if (this.#callbacks.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
  }

  /** A thread that died takes its pending writes with it: fail them, never leave them hanging. */
  #failThread(thread: WriterThread, error: Error): void {
    const index = this.#threads.indexOf(thread);
    if (index !== -1) this.#threads.splice(index, 1);
    const code = (error as NodeJS.ErrnoException).code;
    for (const id of [...thread.pending]) {
      this.#settle(thread, {
        id,
        sha256: "",
        mtimeMs: 0,
        error: { message: error.message, code, path: undefined },
      });
    }
  }
}
