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

/** Reads frames from a stream with bounded buffering. */
export class FrameReader {
  #buffer: Buffer = Buffer.alloc(0);
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
    this.#buffer = this.#buffer.length === 0 ? next.value : Buffer.concat([this.#buffer, next.value]);
    return true;
  }

  /** The next header, or undefined at a clean end; throws on a truncated stream. */
  async header(): Promise<FileHeader | { end: true } | undefined> {
    for (;;) {
      const newline = this.#buffer.indexOf(10);
      if (newline >= 0) {
        const line = this.#buffer.subarray(0, newline).toString("utf8");
        this.#buffer = this.#buffer.subarray(newline + 1);
        return JSON.parse(line) as FileHeader | { end: true };
      }
      if (this.#buffer.length > 64 * 1024) throw new Error("a frame header is longer than 64 KiB");
      if (!(await this.#fill())) {
        if (this.#buffer.length === 0) return undefined;
        throw new Error("the stream ended inside a frame header");
      }
    }
  }

  async body(bytes: number): Promise<Buffer> {
    while (this.#buffer.length < bytes) {
      if (!(await this.#fill()))
        throw new Error(`the stream ended ${bytes - this.#buffer.length} bytes short of a file`);
    }
    const body = this.#buffer.subarray(0, bytes);
    this.#buffer = this.#buffer.subarray(bytes);
    return Buffer.from(body);
  }
}
