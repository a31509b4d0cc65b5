import type { ByteSource } from "./read-ahead.js";

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

const READ_BYTES = 1024 * 1024;
/** A frame (header and body) larger than this is refused rather than buffered. */
export const MAX_FRAME_BYTES = 256 * 1024 * 1024;

/**
 * Reads frames from a byte source (the receiver's stdin) into one buffer and
 * hands out views of it: no stream machinery, no copy per file. A view is
 * valid until the next call.
 */
export class FrameReader {
  #buffer: Buffer;
  #start = 0;
  #end = 0;
  #ended = false;

  constructor(
    private readonly source: ByteSource,
    /** Bytes asked for per read (tests make it tiny to split every frame). */
    private readonly readBytes = READ_BYTES,
  ) {
    this.#buffer = Buffer.allocUnsafe(4 * readBytes);
  }

  /** Reads more input after what is buffered; false at the end of the input. */
  async #fill(need: number): Promise<boolean> {
    if (this.#ended) return false;
    const buffered = this.#end - this.#start;
    if (this.#buffer.length - this.#end < Math.max(this.readBytes, need - buffered)) {
      // Move the unread bytes to the front, into a bigger buffer if the frame needs one.
      const target =
        need > this.#buffer.length - this.readBytes
          ? Buffer.allocUnsafe(need + this.readBytes)
          : this.#buffer;
      this.#buffer.copy(target, 0, this.#start, this.#end);
      this.#buffer = target;
      this.#start = 0;
      this.#end = buffered;
    }
    const n = await this.source.read(
      this.#buffer,
      this.#end,
      Math.min(this.readBytes, this.#buffer.length - this.#end),
    );
    if (n === 0) {
      this.#ended = true;
      return false;
    }
    this.#end += n;
    return true;
  }

  /** The next header, or undefined at a clean end; throws on a truncated stream. */
  async header(): Promise<FileHeader | { end: true } | undefined> {
    // Bytes after #start already searched: relative, because a fill may move the buffered bytes.
    let searched = 0;
    for (;;) {
      const newline = this.#buffer.indexOf(10, this.#start + searched);
      if (newline >= 0 && newline < this.#end) {
        const line = this.#buffer.toString("utf8", this.#start, newline);
        this.#start = newline + 1;
        return JSON.parse(line) as FileHeader | { end: true };
      }
      searched = this.#end - this.#start;
      if (this.#end - this.#start > 64 * 1024) throw new Error("a frame header is longer than 64 KiB");
      if (!(await this.#fill(0))) {
        if (this.#end === this.#start) return undefined;
        throw new Error("the stream ended inside a frame header");
      }
    }
  }

  /** The next `bytes` bytes: a view into the reader's buffer, valid until the next call. */
  async body(bytes: number): Promise<Buffer> {
    if (bytes > MAX_FRAME_BYTES)
      throw new Error(`a file of ${bytes} bytes is over the ${MAX_FRAME_BYTES} byte limit`);
    while (this.#end - this.#start < bytes) {
      if (!(await this.#fill(bytes)))
        throw new Error(`the stream ended ${bytes - (this.#end - this.#start)} bytes short of a file`);
    }
    const body = this.#buffer.subarray(this.#start, this.#start + bytes);
    this.#start += bytes;
    return body;
  }
}
