import { createHash } from "node:crypto";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";

/** Large reads: hashing a 200 MB engine is the whole cost of an engine-cache hit. */
const CHUNK_BYTES = 4 * 1024 * 1024;

/** The sha256 of `data`, hex. */
export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A file's content in two numbers: its sha256 (hex) and its length, both from the same read. */
export interface FileDigest {
  sha256: string;
  bytes: number;
}

/**
 * The sha256 of a file's content, hex, read in chunks of up to 4 MiB: constant
 * memory for a 1 GB engine, one read for a tile.
 */
export async function sha256OfFile(path: string): Promise<string> {
  return (await digestFile(path)).sha256;
}

/**
 * `sha256OfFile` with the number of bytes it read: a size taken from the same
 * read as the hash, so the two always describe the same content even when
 * the file changes meanwhile.
 */
export async function digestFile(path: string): Promise<FileDigest> {
  const handle = await open(path, "r");
  try {
    return await digestOpenFile(handle, (await handle.stat()).size);
  } finally {
    await handle.close();
  }
}

/** Reads an open file from its current position to its end; `sizeHint` only sizes the buffer. */
export async function digestOpenFile(handle: FileHandle, sizeHint: number): Promise<FileDigest> {
  const hash = createHash("sha256");
  const buffer = Buffer.allocUnsafe(chunkSize(sizeHint));
  let bytes = 0;
  for (;;) {
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
    if (bytesRead === 0) return { sha256: hash.digest("hex"), bytes };
    hash.update(buffer.subarray(0, bytesRead));
    bytes += bytesRead;
  }
}

/** `sha256OfFile` with synchronous reads, for a caller that walks many small files in one go. */
export function sha256OfFileSync(path: string): string {
  const fd = openSync(path, "r");
  try {
    const hash = createHash("sha256");
    const buffer = Buffer.allocUnsafe(chunkSize(fstatSync(fd).size));
    for (;;) {
      const bytesRead = readSync(fd, buffer, 0, buffer.length, null);
      if (bytesRead === 0) return hash.digest("hex");
      hash.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    closeSync(fd);
  }
}

/** One read for a small file (plus the read that finds its end); never more than CHUNK_BYTES. */
function chunkSize(fileBytes: number): number {
  return Math.min(CHUNK_BYTES, Math.max(fileBytes + 1, 64 * 1024));
}
