import type { BigIntStats } from "node:fs";
import { mkdir, open, readFile, stat } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import { writeFileAtomic } from "./atomic-file.js";
import { digestOpenFile, type FileDigest } from "./file-digest.js";

const SCHEMA = "operator-tool/file-digests@1";

/**
 * How old a file's last change must be, when its hash starts, for the hash to
 * be remembered. A file rewritten (same size) within the same timestamp tick
 * as the change before it keeps its mtime and ctime, so an identity taken
 * inside that tick cannot prove the content is the one that was hashed. 2 s
 * covers the coarsest timestamps in use (FAT) and some clock skew between this
 * host and a network file system's server.
 */
const RACY_WINDOW_NS = 2_000_000_000n;

const DEFAULT_MAX_ENTRIES = 4096;

export interface FileDigestCacheOptions {
  /** Most files remembered; past it, those hashed longest ago are forgotten first. Default 4096. */
  maxEntries?: number;
  /**
   * The wall clock in ms since the epoch (default `Date.now`), read when a
   * hash starts: a file changed less than 2 s before that is hashed again on
   * every lookup instead of being remembered.
   */
  now?: () => number;
}

/** What must be unchanged for a remembered digest to stand for a file: all from `stat`, as decimal strings. */
interface FileIdentity {
  dev: string;
  ino: string;
  size: string;
  mtimeNs: string;
  ctimeNs: string;
}

interface CacheEntry extends FileIdentity {
  /** The wall clock when the read that produced `sha256` started. */
  hashedAtNs: string;
  sha256: string;
}

const IDENTITY_FIELDS = ["dev", "ino", "size", "mtimeNs", "ctimeNs"] as const;

/**
 * A persistent memory of local files' sha256, so that a file unchanged since
 * it was last hashed is not read again: a lookup costs one `stat`. A digest
 * is reused only while the file's absolute path, device, inode, size, mtime
 * and ctime (ns) are all what they were when it was hashed, and only if the
 * file had not changed in the 2 s before that hash began. A missing, corrupt
 * or foreign cache file reads as an empty cache.
 */
export class FileDigestCache {
  readonly #file: string;
  readonly #entries: Map<string, CacheEntry>;
  readonly #maxEntries: number;
  readonly #now: () => number;
  /** Paths looked up since open: their entries are current, the others are checked on save. */
  readonly #looked = new Set<string>();
  readonly #pending = new Map<string, Promise<FileDigest>>();
  #dirty = false;
  #saving: Promise<unknown> = Promise.resolve();
  #reused = 0;
  #hashed = 0;

  private constructor(file: string, entries: Map<string, CacheEntry>, options: FileDigestCacheOptions) {
    this.#file = file;
    this.#entries = entries;
    this.#maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    if (!Number.isSafeInteger(this.#maxEntries) || this.#maxEntries < 1)
      throw new TypeError(`maxEntries must be a positive integer, not ${String(options.maxEntries)}`);
    this.#now = options.now ?? Date.now;
  }

  /** Loads the cache kept in `file`; never fails on the file's account (missing or damaged: empty). */
  static async open(file: string, options: FileDigestCacheOptions = {}): Promise<FileDigestCache> {
    const path = resolve(file);
    let entries = new Map<string, CacheEntry>();
    try {
      entries = parseCache(await readFile(path, "utf8"));
    } catch {
      // Unreadable or not JSON: start empty; the next save replaces it.
    }
    return new FileDigestCache(path, entries, options);
  }

  /** The file this cache is kept in. */
  get file(): string {
    return this.#file;
  }

  /** Files remembered now. */
  get size(): number {
    return this.#entries.size;
  }

  /** Lookups since open answered from memory (`reused`) and by reading the file (`hashed`). */
  get stats(): { reused: number; hashed: number } {
    return { reused: this.#reused, hashed: this.#hashed };
  }

  /**
   * The sha256 and size of `path`'s content: remembered when its identity is
   * unchanged, else read whole (and remembered when that is safe). Lookups of
   * one path at the same time share one read. A missing or unreadable file is
   * the filesystem's error.
   */
  digest(path: string): Promise<FileDigest> {
    const key = resolve(path);
    let pending = this.#pending.get(key);
    if (pending === undefined) {
      pending = this.#lookup(key).finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    return pending;
  }

  /**
   * Writes the cache atomically if anything changed since it was opened or
   * last saved, first forgetting files that are gone or changed and the
   * oldest past `maxEntries`. Resolves whether it wrote. A write failure
   * rejects (the cache stays as it was on disk).
   */
  save(): Promise<boolean> {
    const saved = this.#saving.then(() => this.#write());
    this.#saving = saved.catch(() => undefined);
    return saved;
  }

  async #lookup(key: string): Promise<FileDigest> {
    this.#looked.add(key);
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
      let current: BigIntStats;
      try {
        current = await stat(key, { bigint: true });
      } catch (error) {
        this.#forget(key);
        throw error;
      }
      if (sameIdentity(entry, identityOf(current)) && !isRacy(entry)) {
        this.#reused++;
        return { sha256: entry.sha256, bytes: Number(entry.size) };
      }
    }
    return this.#hash(key);
  }

  async #hash(key: string): Promise<FileDigest> {
    // Before the open: the hash describes the file as it was at this instant or later.
    const startedNs = BigInt(Math.floor(this.#now())) * 1_000_000n;
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(key, "r");
    } catch (error) {
      this.#forget(key);
      throw error;
    }
    try {
      const before = await handle.stat({ bigint: true });
      const digest = await digestOpenFile(handle, Number(before.size));
      const after = await handle.stat({ bigint: true });
      this.#hashed++;
      const identity = identityOf(before);
      const entry: CacheEntry = { ...identity, hashedAtNs: startedNs.toString(), sha256: digest.sha256 };
      // Changed while read, or too fresh to vouch for: answer, but do not remember.
      if (
        before.isFile() &&
        sameIdentity(identity, identityOf(after)) &&
        BigInt(digest.bytes) === before.size &&
        !isRacy(entry)
      ) {
        this.#entries.set(key, entry);
        this.#dirty = true;
      } else this.#forget(key);
      return digest;
    } finally {
      await handle.close();
    }
  }

  #forget(key: string): void {
    if (this.#entries.delete(key)) this.#dirty = true;
  }

  async #write(): Promise<boolean> {
    if (!this.#dirty) return false;
    this.#dirty = false;
    try {
      await this.#pruneUnlooked();
      const kept = [...this.#entries].sort(([, a], [, b]) => compareDecimal(b.hashedAtNs, a.hashedAtNs));
      for (const [key] of kept.slice(this.#maxEntries)) this.#entries.delete(key);
      const files: Record<string, CacheEntry> = {};
      for (const [key, entry] of kept.slice(0, this.#maxEntries).reverse()) files[key] = entry;
      await mkdir(dirname(this.#file), { recursive: true });
      // Only a cache: a power cut may cost it, never a wrong answer (an empty file reads as empty).
      await writeFileAtomic(this.#file, `${JSON.stringify({ schema: SCHEMA, files })}\n`, {
        durability: "none",
      });
      return true;
    } catch (error) {
      this.#dirty = true;
      throw error;
    }
  }

  /**
   * Drops entries for files not looked up since open that are gone or have
   * changed (they could never be reused). Only runs when a save writes anyway,
   * after at least one file was read whole: a stat per entry is small beside that.
   */
  async #pruneUnlooked(): Promise<void> {
    const unlooked = [...this.#entries.keys()].filter((key) => !this.#looked.has(key));
    await Promise.all(
      unlooked.map(async (key) => {
        try {
          const current = await stat(key, { bigint: true });
          const entry = this.#entries.get(key);
          if (entry !== undefined && !sameIdentity(entry, identityOf(current))) this.#entries.delete(key);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === "ENOENT" || code === "ENOTDIR") this.#entries.delete(key);
        }
      }),
    );
  }
}

function identityOf(stats: BigIntStats): FileIdentity {
  return {
    dev: stats.dev.toString(),
    ino: stats.ino.toString(),
    size: stats.size.toString(),
    mtimeNs: stats.mtimeNs.toString(),
    ctimeNs: stats.ctimeNs.toString(),
  };
}

function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return IDENTITY_FIELDS.every((field) => a[field] === b[field]);
}

/** The file's last change (or a future mtime) falls within the racy window before the hash began. */
function isRacy(entry: CacheEntry): boolean {
  const hashedAt = BigInt(entry.hashedAtNs);
  const latest = [BigInt(entry.mtimeNs), BigInt(entry.ctimeNs)].reduce((a, b) => (a > b ? a : b));
  return latest + RACY_WINDOW_NS > hashedAt;
}

function compareDecimal(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

const DECIMAL = /^\d{1,30}$/;
const SHA256 = /^[0-9a-f]{64}$/;

/** The entries of a cache file; anything not exactly this file's shape is left out. */
function parseCache(text: string): Map<string, CacheEntry> {
  const entries = new Map<string, CacheEntry>();
  const parsed: unknown = JSON.parse(text);
  if (!isRecord(parsed) || parsed["schema"] !== SCHEMA || !isRecord(parsed["files"])) return entries;
  for (const [key, value] of Object.entries(parsed["files"])) {
    if (!isAbsolute(key) || !isRecord(value)) continue;
    const fields = [...IDENTITY_FIELDS, "hashedAtNs"] as const;
    if (!fields.every((field) => typeof value[field] === "string" && DECIMAL.test(value[field]))) continue;
    if (typeof value["sha256"] !== "string" || !SHA256.test(value["sha256"])) continue;
    if (BigInt(value["size"] as string) > BigInt(Number.MAX_SAFE_INTEGER)) continue;
    const entry = Object.fromEntries([...fields, "sha256"].map((field) => [field, value[field]]));
    entries.set(key, entry as unknown as CacheEntry);
  }
  return entries;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
