import { createHash } from "node:crypto";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { open } from "node:fs/promises";

/** Large reads: hashing a 200 MB engine is the whole cost of an engine-cache hit. */
const CHUNK_BYTES = 4 * 1024 * 1024;

/** The sha256 of `data`, hex. */
export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * The sha256 of a file's content, hex, read in chunks of up to 4 MiB: constant
 * memory for a 1 GB engine, one read for a tile.
 */
export async function sha256OfFile(path: string): Promise<string> {
  const handle = await open(path, "r");
  try {
    const hash = createHash("sha256");
    const buffer = Buffer.allocUnsafe(chunkSize((await handle.stat()).size));
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) return hash.digest("hex");
      hash.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
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
