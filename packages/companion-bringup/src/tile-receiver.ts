import { mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import {
  GroupCommitWriter,
  isTempFile,
  removeStaleTempFiles,
  sha256Hex,
  sha256OfFileSync,
  writeFileAtomic,
} from "@operator-tool/atomic-file";
import { pathUnusableErrorFrom } from "@operator-tool/errors";
import { TileSyncError } from "./errors.js";
import { openInput } from "./read-ahead.js";
import { FrameReader } from "./sync-protocol.js";

const MANIFEST = ".sync-manifest.json";
const CHECK_ROOT =
  "make the companion's cache root writable by its SSH user and free space on it (`companion check` shows both), then re-run the sync";

export interface ManifestEntry {
  bytes: number;
  sha256: string;
  mtimeMs: number;
}

export type Manifest = Record<string, ManifestEntry>;

/**
 * What the companion holds under `root`, with digests. Digests come from the
 * receiver's manifest when size and mtime still match; anything else (files
 * landed after the last manifest flush, a kill, a hand copy) is hashed again.
 */
export function listReceivedFiles(root: string): Manifest {
  return scanReceivedFiles(root).files;
}

/**
 * `listReceivedFiles`, and the manifest rewritten when the scan found it out
 * of date (lost to a power cut, files copied by hand), as a receive does: a
 * session that lists and then has nothing to receive still leaves the next
 * listing nothing to hash. A manifest that cannot be written costs only that.
 */
export async function listReceivedFilesKeepingManifest(root: string): Promise<Manifest> {
  const { files, changed } = scanReceivedFiles(root);
  if (changed)
    await writeFileAtomic(join(root, MANIFEST), JSON.stringify(files), { durability: "none" }).catch(
      () => undefined,
    );
  return files;
}

/** The listing, and whether it differs from the manifest on disk (so the manifest is worth rewriting). */
function scanReceivedFiles(root: string): { files: Manifest; changed: boolean } {
  // Missing, cut short or otherwise unreadable: every file is hashed again.
  let manifest: Manifest = {};
  try {
    const parsed: unknown = JSON.parse(readFileSync(join(root, MANIFEST), "utf8"));
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed))
      manifest = parsed as Manifest;
  } catch {
    manifest = {};
  }
  const out: Manifest = {};
  let rehashed = 0;
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    if (names.some(isTempFile)) void removeStaleTempFiles(dir);
    for (const name of names) {
      if (isTempFile(name) || name === MANIFEST) continue;
      const abs = join(dir, name);
      const info = statSync(abs, { throwIfNoEntry: false });
      if (info === undefined) continue;
      if (info.isDirectory()) {
        walk(abs);
        continue;
      }
      const rel = relative(root, abs);
      const known = manifest[rel];
      if (known !== undefined && known.bytes === info.size && known.mtimeMs === info.mtimeMs) {
        out[rel] = known;
        continue;
      }
      rehashed++;
      out[rel] = {
        bytes: info.size,
        mtimeMs: info.mtimeMs,
        sha256: sha256OfFileSync(abs),
      };
    }
  };
  walk(root);
  const changed = rehashed > 0 || Object.keys(out).length !== Object.keys(manifest).length;
  return { files: out, changed };
}

export interface ReceiveResult {
  received: number;
  bytes: number;
}

/**
 * Companion side of the tile sync: reads frames from `inputFd` (stdin),
 * verifies each file's sha256 before anything is written, writes it to a temp
 * file and renames it into place once durable, and keeps the manifest that
 * makes the next listing cheap. A bad digest or a truncated stream fails the
 * whole receive; files already written whole are kept.
 */
export async function receiveFiles(
  root: string,
  inputFd: number,
  options: {
    /** Called with the listing before any input is read (the sender decides what to send from it). */
    onListing?: ((files: Manifest) => void) | undefined;
    /** Stops reading; files already received whole are committed, then the abort reason is thrown. */
    signal?: AbortSignal | undefined;
  } = {},
): Promise<ReceiveResult> {
  // Opened first: the read-ahead thread starts while the cache is scanned.
  const input = openInput(inputFd);
  const stop = () => void input.close();
  options.signal?.addEventListener("abort", stop, { once: true });
  try {
    return await receiveFrames(root, new FrameReader(input), options.onListing);
  } catch (error) {
    options.signal?.throwIfAborted();
    throw error;
  } finally {
    options.signal?.removeEventListener("abort", stop);
    await input.close();
  }
}

async function receiveFrames(
  root: string,
  reader: FrameReader,
  onListing: ((files: Manifest) => void) | undefined,
): Promise<ReceiveResult> {
  makeDirectory(root);
  const { files: manifest, changed } = scanReceivedFiles(root);
  onListing?.(manifest);
  const writer = new GroupCommitWriter();
  const createdDirs = new Set<string>();
  let received = 0;
  let bytes = 0;
  let writeError: TileSyncError | undefined;
  let sinceSave = 0;
  let savedAt = Date.now();
  // The manifest holds only committed files, so it can be saved whenever.
  // Compact: it is read by machines, and rewritten whole on every save. Not
  // synced: it only caches digests, and a manifest lost to a power cut (or
  // unreadable after one) costs a rehash at the next listing, nothing more.
  const saveManifest = async () => {
    await writeFileAtomic(join(root, MANIFEST), JSON.stringify(manifest), { durability: "none" });
    sinceSave = 0;
    savedAt = Date.now();
  };
  try {
    for (let frame = await reader.next(); frame !== undefined; frame = await reader.next()) {
      const { header, body } = frame;
      const sha256 = sha256Hex(body);
      if (sha256 !== header.sha256) {
        throw new TileSyncError(
          `${header.path} arrived with sha256 ${sha256}, expected ${header.sha256}; not written`,
          {
            hint: "the workstation's copy changed since it was downloaded: re-run `operator-tool tiles download`, then the sync",
          },
        );
      }
      const abs = join(root, header.path);
      const dir = dirname(abs);
      if (!createdDirs.has(dir)) {
        makeDirectory(dir);
        createdDirs.add(dir);
      }
      const path = header.path;
      const size = header.bytes;
      // Written before `write` returns: `body` is the reader's memory and is reused next.
      await writer.write(abs, body, (error, committed) => {
        if (committed === undefined) {
          writeError ??= new TileSyncError(`cannot write ${abs} on the companion: ${error?.message}`, {
            hint: CHECK_ROOT,
            cause: error,
          });
          return;
        }
        manifest[path] = { bytes: size, sha256, mtimeMs: committed.mtimeMs };
        sinceSave++;
      });
      if (writeError !== undefined) throw writeError;
      received++;
      bytes += size;
      // Often enough that a kill costs little rehashing at the next listing;
      // rarely enough that rewriting the whole manifest stays cheap.
      if (sinceSave >= 2000 && Date.now() - savedAt >= 2_000) await saveManifest();
    }
  } finally {
    await writer.close();
    // A session that received nothing and found the manifest current leaves it alone.
    if (received > 0 || changed) await saveManifest();
  }
  if (writeError !== undefined) throw writeError;
  return { received, bytes };
}

/** mkdir -p, failing as a coded error: the companion's disk is the operator's to fix. */
function makeDirectory(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    // Name the path in the way (a file where a directory belongs, a read-only mount), not just the one asked for.
    const precise = pathUnusableErrorFrom(error);
    const { code } = error as NodeJS.ErrnoException;
    throw new TileSyncError(
      precise?.message ?? `cannot create ${dir} on the companion (${code ?? (error as Error).message})`,
      { hint: precise?.hint ?? CHECK_ROOT, cause: error },
    );
  }
}
