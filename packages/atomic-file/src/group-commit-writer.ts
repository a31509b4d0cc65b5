import { renameSync } from "node:fs";
import { tempPathFor } from "./atomic-file.js";
import { SyncfsRunner } from "./sync-command.js";
import { removeQuietly, writeTempFileSync } from "./temp-file-sync.js";

export interface GroupCommitWriterOptions {
  /** `false`: rename without syncing (atomic, but may not survive power loss). */
  fsync?: boolean;
  /**
   * `group` (default on Linux): one syncfs makes a whole group of temp files
   * durable before any is renamed; `file`: each is fsynced as it is written.
   */
  durability?: "file" | "group";
  groupMaxFiles?: number;
  groupMaxBytes?: number;
  /** A group not full after this long is committed anyway, so a slow stream still lands. */
  groupDelayMs?: number;
  /** Groups being committed at once before `write` waits. */
  maxCommitting?: number;
}

export type OnFileCommitted = (error: Error | undefined, committed: { mtimeMs: number } | undefined) => void;

interface TempFile {
  temp: string;
  path: string;
  mtimeMs: number;
  /** Fsynced as it was written (per-file durability at the time). */
  fsynced: boolean;
  onCommitted: OnFileCommitted;
}

/**
 * Atomic writes for a stream of files on the calling thread: `write` puts the
 * data in a temp file beside its target before it returns (so the caller may
 * reuse the memory at once), and the files reach their final names group by
 * group — one syncfs (`sync -f`, run by a helper shell so this thread keeps
 * going), then the renames. Where `sync -f` cannot run, each file is fsynced
 * instead. For a reader that already holds each file in memory and has no
 * use for another thread's copy of it (the companion's tile receiver).
 */
export class GroupCommitWriter {
  readonly #groupMaxFiles: number;
  readonly #groupMaxBytes: number;
  readonly #groupDelayMs: number;
  readonly #maxCommitting: number;
  #durability: "none" | "file" | "group";
  #group: TempFile[] = [];
  #groupBytes = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #committing = new Set<Promise<void>>();
  readonly #syncfs = new SyncfsRunner();

  constructor(options: GroupCommitWriterOptions = {}) {
    this.#durability =
      options.fsync === false
        ? "none"
        : (options.durability ?? (process.platform === "linux" ? "group" : "file"));
    this.#groupMaxFiles = options.groupMaxFiles ?? 512;
    this.#groupMaxBytes = options.groupMaxBytes ?? 64 * 1024 * 1024;
    this.#groupDelayMs = options.groupDelayMs ?? 1_000;
    this.#maxCommitting = Math.max(1, options.maxCommitting ?? 2);
  }

  /**
   * Writes `data` to a temp file beside `path` now; `onCommitted` is called
   * once the file is at `path`, or with the error. Resolves when the writer
   * has room for more (a bounded number of groups committing).
   */
  async write(path: string, data: Uint8Array, onCommitted: OnFileCommitted): Promise<void> {
    const temp = tempPathFor(path);
    const fsynced = this.#durability === "file";
    try {
      const mtimeMs = writeTempFileSync(temp, data, fsynced);
      this.#group.push({ temp, path, mtimeMs, fsynced, onCommitted });
      this.#groupBytes += data.length;
    } catch (error) {
      onCommitted(error as Error, undefined);
      return;
    }
    if (this.#group.length >= this.#groupMaxFiles || this.#groupBytes >= this.#groupMaxBytes)
      this.#commitGroup();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.#commitGroup(), this.#groupDelayMs);
      this.#timer.unref();
    }
    while (this.#committing.size >= this.#maxCommitting) await Promise.race(this.#committing);
  }

  /** Commits everything written so far and waits for it. */
  async close(): Promise<void> {
    this.#commitGroup();
    while (this.#committing.size > 0) await Promise.race(this.#committing);
    this.#syncfs.close();
  }

  #commitGroup(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const files = this.#group;
    this.#group = [];
    this.#groupBytes = 0;
    if (files.length === 0) return;
    const done = this.#makeDurable(files).then(
      () => {
        for (const file of files) {
          try {
            renameSync(file.temp, file.path);
          } catch (error) {
            removeQuietly(file.temp);
            file.onCommitted(error as Error, undefined);
            continue;
          }
          file.onCommitted(undefined, { mtimeMs: file.mtimeMs });
        }
      },
      (error: Error) => {
        for (const file of files) {
          removeQuietly(file.temp);
          file.onCommitted(error, undefined);
        }
      },
    );
    const tracked = done.finally(() => this.#committing.delete(tracked));
    this.#committing.add(tracked);
  }

  async #makeDurable(files: TempFile[]): Promise<void> {
    if (this.#durability === "none") return;
    // Files written before a switch to per-file durability still need their sync.
    const unsynced = files.filter((file) => !file.fsynced).map((file) => file.temp);
    if (!(await this.#syncfs.makeDurable(unsynced))) this.#durability = "file";
  }
}
