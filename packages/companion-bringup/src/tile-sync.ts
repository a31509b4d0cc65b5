import { once } from "node:events";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { CompanionConnection } from "./connection.js";
import { TileSyncError } from "./errors.js";
import { shellQuote } from "./shell-quote.js";
import type { FileHeader } from "./sync-protocol.js";

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
  // One session: the receiver lists what it holds on its first stdout line,
  // then reads the stream, so skipping what is there costs no second start
  // of operator-tool on the companion.
  const remote = await connection.exec(
    `${options.remoteCommand} tiles receive --root ${shellQuote(remoteRoot)} --list-first`,
  );
  const stderr: Buffer[] = [];
  remote.stderr.on("data", (d: Buffer) => stderr.push(d));
  let streamError: Error | undefined;
  remote.stdin.on("error", (error: Error) => {
    streamError = error;
  });
  const onAbort = () => remote.close();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const listingLine = await firstLine(remote.stdout, remote.exit);
  remote.stdout.resume(); // the rest (the receiver's summary) is not needed
  let present: Record<string, { sha256: string }>;
  try {
    if (listingLine === undefined) throw new Error("no listing");
    present = (JSON.parse(listingLine) as { files: Record<string, { sha256: string }> }).files;
    if (typeof present !== "object" || present === null) throw new Error("no files");
  } catch {
    options.signal?.removeEventListener("abort", onAbort);
    options.signal?.throwIfAborted();
    remote.stdin.destroy();
    const status = await remote.exit;
    const why = lastLine(Buffer.concat(stderr).toString("utf8"));
    throw new TileSyncError(
      listingLine === undefined
        ? `listing the companion's tiles failed (exit ${status.code ?? status.signal}): ${why}`
        : `the companion's tile listing is not the JSON operator-tool expects (got ${JSON.stringify(listingLine.slice(0, 120))}; stderr ${JSON.stringify(why.slice(0, 200))})`,
      {
        hint: "check that an operator-tool with `tiles receive --list-first` runs on the companion (--remote-command); update it if not",
      },
    );
  }
  const toSend = options.files.filter((f) => present[f.path]?.sha256 !== f.sha256);
  const result: SyncResult = {
    planned: options.files.length,
    sent: 0,
    skipped: options.files.length - toSend.length,
    bytesSent: 0,
    durationMs: 0,
  };
  try {
    // Frames go out in batches of about 256 KiB: ssh2 encrypts and sends each
    // write as its own packets, and a 20 KB tile plus its header line as two
    // writes cost twice the packets of the data they carry. Files are read
    // synchronously: a tile is small and in the page cache more often than
    // not, and a thread-pool round trip per read cost more than the read.
    let batch: Buffer[] = [];
    let batchBytes = 0;
    let batchFiles = 0;
    let batchFileBytes = 0;
    const flush = async () => {
      const ok = remote.stdin.write(batch.length === 1 ? batch[0]! : Buffer.concat(batch, batchBytes));
      batch = [];
      batchBytes = 0;
      if (!ok) await Promise.race([once(remote.stdin, "drain"), remote.exit]);
      if (streamError === undefined) {
        result.sent += batchFiles;
        result.bytesSent += batchFileBytes;
        options.onProgress?.(result.sent, toSend.length, result.bytesSent);
      }
      batchFiles = 0;
      batchFileBytes = 0;
    };
    for (const file of toSend) {
      options.signal?.throwIfAborted();
      let body: Buffer;
      try {
        body = readFileSync(join(options.localRoot, file.path));
      } catch (error) {
        throw new TileSyncError(
          `cannot read ${file.path} from the local cache (${(error as NodeJS.ErrnoException).code})`,
          { hint: REPAIR_CACHE },
        );
      }
      if (body.length !== file.bytes) {
        throw new TileSyncError(
          `${file.path} in the local cache is ${body.length} bytes, but the tileset says ${file.bytes}`,
          { hint: REPAIR_CACHE },
        );
      }
      const header: FileHeader = { path: file.path, bytes: body.length, sha256: file.sha256 };
      const line = Buffer.from(`${JSON.stringify(header)}\n`);
      batch.push(line, body);
      batchBytes += line.length + body.length;
      batchFiles++;
      batchFileBytes += body.length;
      if (batchBytes >= 256 * 1024) await flush();
      if (streamError !== undefined) break;
    }
    if (batch.length > 0 && streamError === undefined) await flush();
    remote.stdin.end(`${JSON.stringify({ end: true })}\n`);
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
