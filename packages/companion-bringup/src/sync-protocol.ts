import type { Readable } from "node:stream";

/**
 * The tile sync stream, workstation → companion over one SSH channel: for
 * each file a JSON header line `{"path","bytes","sha256"}` then exactly
 * `bytes` raw bytes; `{"end":true}` closes it.
 */
export interface FileHeader {
  path: string;
  bytes: number;
  sha256: string;
}

export const SAFE_RELATIVE_PATH = /^(?!.*(?:^|\/)\.\.?(?:\/|$))[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*$/;

/**
 * Reads frames from a stream with bounded buffering. Incoming chunks are kept
 * as they arrive and each file body is copied out once, into memory of its
 * own (so it can move to a writer thread without another copy).
 */
export class FrameReader {
  #chunks: Buffer[] = [];
  #length = 0;
  #ended = false;
  #iterator: AsyncIterator<Buffer>;

  constructor(input: Readable) {
    this.#iterator = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  async #fill(): Promise<boolean> {
    if (this.#ended) return false;
    const next = await this.#iterator.next();
    if (next.done) {
      this.#ended = true;
      return false;
    }
    this.#chunks.push(next.value);
    this.#length += next.value.length;
    return true;
  }

  /** Offset of the first newline in the buffered bytes, or -1. */
  #newline(): number {
    let offset = 0;
    for (const chunk of this.#chunks) {
      const at = chunk.indexOf(10);
      if (at >= 0) return offset + at;
      offset += chunk.length;
    }
    return -1;
  }

  /** Removes the first `bytes` buffered bytes into `out`. */
  #take(bytes: number, out: Buffer): Buffer {
    let filled = 0;
    while (filled < bytes) {
      const chunk = this.#chunks[0]!;
      const n = Math.min(chunk.length, bytes - filled);
      chunk.copy(out, filled, 0, n);
      filled += n;
      if (n === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(n);
    }
    this.#length -= bytes;
    return out;
  }

  /** The next header, or undefined at a clean end; throws on a truncated stream. */
  async header(): Promise<FileHeader | { end: true } | undefined> {
    for (;;) {
      const newline = this.#newline();
      if (newline >= 0) {
        const line = this.#take(newline + 1, Buffer.allocUnsafe(newline + 1));
        return JSON.parse(line.toString("utf8", 0, newline)) as FileHeader | { end: true };
      }
      if (this.#length > 64 * 1024) throw new Error("a frame header is longer than 64 KiB");
      if (!(await this.#fill())) {
        if (this.#length === 0) return undefined;
        throw new Error("the stream ended inside a frame header");
      }
    }
  }

  async body(bytes: number): Promise<Buffer> {
    while (this.#length < bytes) {
      if (!(await this.#fill()))
        throw new Error(`the stream ended ${bytes - this.#length} bytes short of a file`);
    }
    return this.#take(bytes, Buffer.allocUnsafeSlow(bytes));
  }
}
