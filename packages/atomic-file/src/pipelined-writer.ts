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

/**
 * Atomic writes for many small files (tiles), pipelined: up to `maxInFlight`
 * files are written, fsynced and renamed concurrently on the thread pool while
 * the caller moves on; only a synced file is renamed into place. Same
 * guarantee as `writeFileAtomic` — the final path holds nothing or the whole
 * file, whenever the process dies — at a fraction of the per-file cost.
 */
export class PipelinedAtomicWriter {
  readonly #maxInFlight: number;
  readonly #fsync: boolean;
  #inFlight = 0;
  #waiters: Array<() => void> = [];
  #idle: Array<() => void> = [];

  constructor(options: { maxInFlight?: number; fsync?: boolean } = {}) {
    this.#maxInFlight = options.maxInFlight ?? 64;
    this.#fsync = options.fsync !== false;
  }

  /**
   * Resolves once the write is accepted (fewer than `maxInFlight` pending);
   * `onCommitted` is called when the file is at `path`, or with the error.
   */
  async write(path: string, data: Uint8Array, onCommitted: (error?: Error) => void): Promise<void> {
    while (this.#inFlight >= this.#maxInFlight)
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    this.#inFlight++;
    void this.#commit(path, data)
      .then(
        () => onCommitted(),
        (error: Error) => onCommitted(error),
      )
      .finally(() => {
        this.#inFlight--;
        this.#waiters.shift()?.();
        if (this.#inFlight === 0) for (const resolve of this.#idle.splice(0)) resolve();
      });
  }

  /** Waits until every accepted write has been committed or failed. */
  async drain(): Promise<void> {
    if (this.#inFlight === 0) return;
    await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  async #commit(path: string, data: Uint8Array): Promise<void> {
    const temp = tempPathFor(path);
    const fd = await openFd(temp, "wx", 0o644);
    try {
      await writeFd(fd, data);
      if (this.#fsync) await syncFd(fd);
    } catch (error) {
      await closeFd(fd).catch(() => undefined);
      await unlinkFile(temp).catch(() => undefined);
      throw error;
    }
    await closeFd(fd);
    try {
      await renameFile(temp, path);
    } catch (error) {
      await unlinkFile(temp).catch(() => undefined);
      throw error;
    }
  }
}
