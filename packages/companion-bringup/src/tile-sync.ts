import { once } from "node:events";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { CompanionConnection } from "./connection.js";
import { TileSyncError } from "./errors.js";
import { shellQuote } from "./shell-quote.js";
import type { FileHeader } from "./sync-protocol.js";

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
  const receive = `${options.remoteCommand} tiles receive --root ${shellQuote(remoteRoot)}`;
  const listing = await connection.run(`${receive} --list`);
  if (listing.code !== 0) {
    throw new TileSyncError(
      `listing the companion's tiles failed (exit ${listing.code ?? listing.signal}): ${lastLine(listing.stderr)}`,
      {
        hint: "check `operator-tool tiles receive` runs on the companion (--remote-command)",
      },
    );
  }
  let present: Record<string, { sha256: string }>;
  try {
    present = (JSON.parse(lastLine(listing.stdout)) as { files: Record<string, { sha256: string }> }).files;
  } catch {
    throw new TileSyncError(
      `the companion's tile listing is not the JSON operator-tool expects (got ${JSON.stringify(listing.stdout.slice(0, 120))}, ${listing.stdout.length} bytes; stderr ${JSON.stringify(lastLine(listing.stderr).slice(0, 200))})`,
      { hint: "update operator-tool on the companion" },
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
  if (toSend.length === 0) {
    result.durationMs = Date.now() - started;
    return result;
  }

  const remote = await connection.exec(receive);
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  remote.stdout.on("data", (d: Buffer) => stdout.push(d));
  remote.stderr.on("data", (d: Buffer) => stderr.push(d));
  let streamError: Error | undefined;
  remote.stdin.on("error", (error: Error) => {
    streamError = error;
  });
  const onAbort = () => remote.close();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    // Read ahead a few files so disk reads overlap the (encrypted) stream.
    const reads = new Map<number, Promise<Buffer>>();
    const read = (i: number) => {
      const file = toSend[i]!;
      return readFile(join(options.localRoot, file.path)).catch((error: NodeJS.ErrnoException) => {
        throw new TileSyncError(`cannot read ${file.path} from the local cache (${error.code})`, {
          hint: "re-run `operator-tool tiles download` to repair the cache",
        });
      });
    };
    for (let i = 0; i < toSend.length; i++) {
      options.signal?.throwIfAborted();
      for (let ahead = i; ahead < Math.min(toSend.length, i + 16); ahead++)
        if (!reads.has(ahead)) reads.set(ahead, read(ahead));
      const file = toSend[i]!;
      const body = await reads.get(i)!;
      reads.delete(i);
      const header: FileHeader = { path: file.path, bytes: body.length, sha256: file.sha256 };
      const ok = remote.stdin.write(`${JSON.stringify(header)}\n`) && remote.stdin.write(body);
      if (!ok) await Promise.race([once(remote.stdin, "drain"), remote.exit]);
      if (streamError !== undefined) break;
      result.sent++;
      result.bytesSent += body.length;
      options.onProgress?.(result.sent, toSend.length, result.bytesSent);
    }
    for (const pending of reads.values()) pending.catch(() => undefined);
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
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
  result.durationMs = Date.now() - started;
  void stdout;
  return result;
}

function lastLine(text: string): string {
  return text.trim().split("\n").at(-1) ?? "";
}
