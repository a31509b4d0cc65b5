import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { CompanionConnection, RemoteProcess } from "./connection.js";
import { TileSyncError } from "./errors.js";
import { shellQuote } from "./shell-quote.js";
import type { Listing } from "./sync-listing.js";
import { FrameWriter } from "./sync-protocol.js";

const REPAIR_CACHE = "re-run `operator-tool tiles download` to repair the cache";

export interface SyncFile {
  /** Relative to both roots, e.g. `17/76543/44321.jpg` or `tilesets/F-1.json`. */
  path: string;
  bytes: number;
  sha256: string;
}

export interface SyncTilesOptions {
  connection: CompanionConnection;
  /** operator-tool on the companion; `tiles receive` is appended. */
  remoteCommand: string;
  /** Local directory the files are read from. */
  localRoot: string;
  /** Companion directory they land in. */
  remoteRoot: string;
  /** In order; put the tileset last so it only appears once its tiles are there. */
  files: SyncFile[];
  signal?: AbortSignal;
  onProgress?: (sent: number, total: number, bytes: number) => void;
  /**
   * The receiver's listing line, from a companion session already open: then
   * `tiles receive` only starts when something is to be sent. Unset: the
   * receiver lists first in its own session.
   */
  listing?: () => Promise<string>;
}

export interface SyncResult {
  planned: number;
  sent: number;
  skipped: number;
  bytesSent: number;
  durationMs: number;
}

/**
 * Pushes the files the companion lacks (by path and sha256, from its own
 * listing) as one stream into `tiles receive`. Re-running after any
 * interruption sends only what is still missing; with nothing new, no file
 * data crosses the link.
 */
export async function syncTiles(options: SyncTilesOptions): Promise<SyncResult> {
  const started = Date.now();
  const { connection, remoteRoot } = options;
  if (options.listing !== undefined) {
    let line: string;
    try {
      line = await options.listing();
    } catch (error) {
      options.signal?.throwIfAborted();
      throw new TileSyncError(`listing the companion's tiles failed: ${(error as Error).message}`, {
        hint: "check the companion's cache root (`operator-tool companion check`), then re-run",
        cause: error,
      });
    }
    options.signal?.throwIfAborted();
    const present = await parseListingLine(line);
    const toSend = options.files.filter((f) => present[f.path]?.sha256 !== f.sha256);
    if (toSend.length === 0)
      return {
        planned: options.files.length,
        sent: 0,
        skipped: options.files.length,
        bytesSent: 0,
        durationMs: Date.now() - started,
      };
    const remote = await connection.exec(
      `${options.remoteCommand} tiles receive --root ${shellQuote(remoteRoot)}`,
    );
    return sendFiles(options, remote, toSend, started);
  }
  // One session: the receiver lists what it holds on its first stdout line,
  // then reads the stream, so skipping what is there costs no second start
  // of operator-tool on the companion.
  const remote = await connection.exec(
    `${options.remoteCommand} tiles receive --root ${shellQuote(remoteRoot)} --list-first`,
  );
  const stderr = collect(remote.stderr);
  const onAbort = () => remote.close();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const listingLine = await firstLine(remote.stdout, remote.exit);
  remote.stdout.resume(); // the rest (the receiver's summary) is not needed
  let present: Listing;
  try {
    if (listingLine === undefined) throw new Error("no listing");
    present = await parseListingLine(listingLine);
  } catch (error) {
    options.signal?.removeEventListener("abort", onAbort);
    options.signal?.throwIfAborted();
    remote.stdin.destroy();
    const status = await remote.exit;
    const why = lastLine(Buffer.concat(stderr).toString("utf8"));
    if (listingLine === undefined)
      throw new TileSyncError(
        `listing the companion's tiles failed (exit ${status.code ?? status.signal}): ${why}`,
        {
          hint: LISTING_HINT,
        },
      );
    throw new TileSyncError(`${(error as Error).message}; stderr ${JSON.stringify(why.slice(0, 200))}`, {
      hint: LISTING_HINT,
    });
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
  const toSend = options.files.filter((f) => present[f.path]?.sha256 !== f.sha256);
  return sendFiles(options, remote, toSend, started, stderr);
}

const LISTING_HINT =
  "check that an operator-tool with `tiles receive --list-first` runs on the companion (--remote-command); update it if not";

/** The listing parsed; a line that is not one becomes the sync's failure, naming what came. */
async function parseListingLine(line: string): Promise<Listing> {
  // zod only now: the rest of the workstation's commands start without it.
  const { parseListing } = await import("./sync-listing.js");
  try {
    return parseListing(line);
  } catch (error) {
    throw new TileSyncError(
      `the companion's tile listing is not what operator-tool expects: ${(error as Error).message} (got ${JSON.stringify(line.slice(0, 120))})`,
      { hint: LISTING_HINT },
    );
  }
}

function collect(stream: Readable): Buffer[] {
  const chunks: Buffer[] = [];
  stream.on("data", (d: Buffer) => chunks.push(d));
  return chunks;
}

/** Streams `toSend` into a running receiver and waits for its verdict. */
async function sendFiles(
  options: SyncTilesOptions,
  remote: RemoteProcess,
  toSend: SyncFile[],
  started: number,
  stderr: Buffer[] = collect(remote.stderr),
): Promise<SyncResult> {
  let streamError: Error | undefined;
  remote.stdin.on("error", (error: Error) => {
    streamError = error;
  });
  remote.stdout.resume();
  const onAbort = () => remote.close();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const result: SyncResult = {
    planned: options.files.length,
    sent: 0,
    skipped: options.files.length - toSend.length,
    bytesSent: 0,
    durationMs: 0,
  };
  try {
    const frames = new FrameWriter(remote.stdin, remote.exit, (files, bytes) => {
      if (streamError !== undefined) return;
      result.sent += files;
      result.bytesSent += bytes;
      options.onProgress?.(result.sent, toSend.length, result.bytesSent);
    });
    for (const file of toSend) {
      options.signal?.throwIfAborted();
      await frames.add(file, (into) => readTile(join(options.localRoot, file.path), file, into));
      if (streamError !== undefined || frames.remoteExited) break;
    }
    if (streamError === undefined) await frames.flush();
    frames.end();
    const status = await remote.exit;
    options.signal?.throwIfAborted();
    if (status.code !== 0) {
      const why =
        lastLine(Buffer.concat(stderr).toString("utf8")) ||
        (status.code === null ? "the connection dropped" : `exit ${status.code}`);
      throw new TileSyncError(
        `the companion's tile receiver failed after ${result.sent} of ${toSend.length} files: ${why}`,
        {
          hint: "re-run: files already received are kept and not sent again",
        },
      );
    }
  } catch (error) {
    // The receiver keeps what it has committed and exits on the cut stream.
    remote.close();
    throw error;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
  result.durationMs = Date.now() - started;
  return result;
}

/** The first line a stream prints, or undefined when it ends (or the process exits) before one. */
function firstLine(stream: Readable, exit: Promise<unknown>): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const onData = (chunk: Buffer) => {
      const at = chunk.indexOf(10);
      chunks.push(at < 0 ? chunk : chunk.subarray(0, at));
      if (at < 0) return;
      stream.off("data", onData);
      resolve(Buffer.concat(chunks).toString("utf8"));
    };
    stream.on("data", onData);
    stream.once("end", () => resolve(undefined));
    void exit.then(() => setImmediate(() => resolve(undefined)));
  });
}

function lastLine(text: string): string {
  return text.trim().split("\n").at(-1) ?? "";
}

/**
 * Reads a local tile straight into `into` (exactly its size), refusing one
 * whose size no longer matches the tileset: the receiver would refuse its
 * digest anyway, after the whole file had crossed the link.
 */
function readTile(path: string, file: SyncFile, into: Buffer): void {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    throw new TileSyncError(
      `cannot read ${file.path} from the local cache (${(error as NodeJS.ErrnoException).code})`,
      { hint: REPAIR_CACHE },
    );
  }
  try {
    let size = fstatSync(fd).size;
    if (size === file.bytes) {
      // A file shrinking under us shows as a short read: same refusal, with what was there.
      for (size = 0; size < file.bytes; ) {
        const n = readSync(fd, into, size, file.bytes - size, size);
        if (n === 0) break;
        size += n;
      }
    }
    if (size !== file.bytes) {
      throw new TileSyncError(
        `${file.path} in the local cache is ${size} bytes, but the tileset says ${file.bytes}`,
        { hint: REPAIR_CACHE },
      );
    }
  } finally {
    closeSync(fd);
  }
}
