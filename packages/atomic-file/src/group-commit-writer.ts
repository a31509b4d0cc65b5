import { renameSync } from "node:fs";
import { tempPathFor } from "./atomic-file.js";
import { SyncfsRunner } from "./sync-command.js";
import { removeQuietly, writeTempFileSync } from "./temp-file-sync.js";

/**
 * How a file's data reaches the disk before its rename makes it visible:
 * `group`, one syncfs for a whole group of temp files; `file`, an fsync per
 * file; `none`, no sync at all (the rename is still atomic, but after a
 * power cut the file may be there and empty).
 */
export type Durability = "none" | "file" | "group";

export interface GroupCommitWriterOptions {
  /** Default: `group` on Linux, where `sync -f` gives syncfs(2); `file` elsewhere. */
  durability?: Durability;
  /** A group is committed once it holds this many files… */
  groupMaxFiles?: number;
  /** …or this many bytes… */
  groupMaxBytes?: number;
  /** …or when it has been open this long, so a slow stream still lands. */
  groupDelayMs?: number;
  /** Groups syncing at once before `write` waits for one to finish. */
  maxCommitting?: number;
}

export interface CommittedFile {
  mtimeMs: number;
}

export type OnFileCommitted = (error: Error | undefined, committed: CommittedFile | undefined) => void;

interface TempFile {
  temp: string;
  path: string;
  mtimeMs: number;
  /** Fsynced as it was written (per-file durability at the time). */
  fsynced: boolean;
  onCommitted: OnFileCommitted;
}

/**
 * Atomic writes for a stream of many small files (tiles), on the calling
 * thread. `write` puts the data in a temp file beside its target with plain
 * synchronous syscalls before it returns, so the caller may reuse the memory
 * at once; a thread-pool hand-off per syscall cost more than the syscall at
 * tens of thousands of files. Under `group` durability the files reach their
 * final names group by group: one syncfs (`sync -f`, run by a helper shell
 * while this thread writes the next group) makes every temp file of the group
 * durable, then they are renamed. A file is never renamed before its data is
 * on disk, exactly as with an fsync per file, but the filesystem commits its
 * journal once per group. Where `sync -f` cannot run, each file is fsynced
 * instead. One cost to know: a syncfs also flushes whatever else is dirty on
 * that filesystem.
 */
export class GroupCommitWriter {
  readonly #groupMaxFiles: number;
  readonly #groupMaxBytes: number;
  readonly #groupDelayMs: number;
  readonly #maxCommitting: number;
  #durability: Durability;
  #group: TempFile[] = [];
  #groupBytes = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #committing = new Set<Promise<void>>();
  readonly #syncfs = new SyncfsRunner();

  constructor(options: GroupCommitWriterOptions = {}) {
    this.#durability = options.durability ?? (process.platform === "linux" ? "group" : "file");
    this.#groupMaxFiles = options.groupMaxFiles ?? 512;
    this.#groupMaxBytes = options.groupMaxBytes ?? 64 * 1024 * 1024;
    this.#groupDelayMs = options.groupDelayMs ?? 1_000;
    this.#maxCommitting = Math.max(1, options.maxCommitting ?? 2);
  }

  /**
   * Writes `data` to a temp file beside `path` now; `onCommitted` is called
   * once the file is at `path`, or with the error (an errno error, its `code`
   * set). Resolves when the writer has room for more (a bounded number of
   * groups syncing).
   */
  async write(path: string, data: Uint8Array, onCommitted: OnFileCommitted): Promise<void> {
    const temp = tempPathFor(path);
    const fsynced = this.#durability === "file";
    let mtimeMs: number;
    try {
      mtimeMs = writeTempFileSync(temp, data, fsynced);
    } catch (error) {
      onCommitted(error as Error, undefined);
      return;
    }
    const file = { temp, path, mtimeMs, fsynced, onCommitted };
    if (this.#durability !== "group") {
      // Nothing to share: the file is as durable as it will get.
      rename(file);
      return;
    }
    this.#group.push(file);
    this.#groupBytes += data.length;
    if (this.#group.length >= this.#groupMaxFiles || this.#groupBytes >= this.#groupMaxBytes)
      this.#commitGroup();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.#commitGroup(), this.#groupDelayMs);
      this.#timer.unref();
    }
    while (this.#committing.size >= this.#maxCommitting) await Promise.race(this.#committing);
  }

  /** Starts committing the open group now, without waiting for it to fill or for its timer. */
  flush(): void {
    this.#commitGroup();
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
        for (const file of files) rename(file);
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
    // Files written before a switch to per-file durability still need their sync.
    const unsynced = files.filter((file) => !file.fsynced).map((file) => file.temp);
    if (!(await this.#syncfs.makeDurable(unsynced))) this.#durability = "file";
  }
}

function rename(file: TempFile): void {
  try {
    renameSync(file.temp, file.path);
  } catch (error) {
    removeQuietly(file.temp);
    file.onCommitted(error as Error, undefined);
    return;
  }
  file.onCommitted(undefined, { mtimeMs: file.mtimeMs });
}
