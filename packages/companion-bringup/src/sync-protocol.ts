import { once } from "node:events";
import type { Writable } from "node:stream";
import { TileSyncError } from "./errors.js";
import type { ByteSource } from "./read-ahead.js";

/**
 * The tile sync stream, workstation → companion over one SSH channel: for
 * each file a JSON header line `{"path","bytes","sha256"}` then exactly
 * `bytes` raw bytes; `{"end":true}` closes it. `FrameWriter` encodes it,
 * `FrameReader` decodes it.
 */
export interface FileHeader {
  path: string;
  bytes: number;
  sha256: string;
}

export const SAFE_RELATIVE_PATH = /^(?!.*(?:^|\/)\.\.?(?:\/|$))[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*$/;

/** A frame (header and body) larger than this is refused rather than buffered. */
export const MAX_FRAME_BYTES = 256 * 1024 * 1024;
const MAX_HEADER_BYTES = 64 * 1024;
const END_OF_STREAM = `${JSON.stringify({ end: true })}\n`;

const RESEND = "re-run the sync: files received whole are kept and not sent again";
const SAME_VERSION =
  "run the same operator-tool version on the workstation and the companion (--remote-command)";

function headerLine(file: FileHeader): string {
  return `${JSON.stringify({ path: file.path, bytes: file.bytes, sha256: file.sha256 })}\n`;
}

const BATCH_BYTES = 256 * 1024;
const SPARE_BATCHES = 4;

/**
 * Encodes frames onto the channel in writes of about 256 KiB: ssh2 encrypts
 * and sends each write as its own packets, so a header and a body as two
 * writes cost twice the packets of the data they carry. Files are read
 * straight into a batch buffer, and the buffers are reused once the channel
 * is done with them: a fresh buffer per tile was most of what the garbage
 * collector had to do.
 */
export class FrameWriter {
  #spare: Buffer[] = [];
  #current: Buffer | undefined;
  #used = 0;
  #inFlight = 0;
  #waiting: (() => void) | undefined;
  /** Files and body bytes in the current batch. */
  #files = 0;
  #fileBytes = 0;
  /** The receiver is gone: nothing more is worth reading or sending. */
  remoteExited = false;

  constructor(
    private readonly out: Writable,
    private readonly exited: Promise<unknown>,
    /** Called as each batch is handed to the stream. */
    private readonly onSent: (files: number, bytes: number) => void,
  ) {
    void exited.then(() => {
      this.remoteExited = true;
    });
  }

  /** Appends one frame; `read` fills exactly `file.bytes` bytes of the body. */
  async add(file: FileHeader, read: (into: Buffer) => void): Promise<void> {
    const header = headerLine(file);
    const size = Buffer.byteLength(header) + file.bytes;
    if (this.#current !== undefined && this.#used + size > this.#current.length) await this.flush();
    if (size > BATCH_BYTES) {
      // A big file (a tileset, an odd tile) goes in a buffer of its own.
      const own = Buffer.allocUnsafe(size);
      read(own.subarray(own.write(header, 0, "utf8")));
      this.onSent(1, file.bytes);
      await this.#send(own, false);
      return;
    }
    this.#current ??= await this.#spareBuffer();
    this.#used += this.#current.write(header, this.#used, "utf8");
    read(this.#current.subarray(this.#used, this.#used + file.bytes));
    this.#used += file.bytes;
    this.#files++;
    this.#fileBytes += file.bytes;
    if (this.#used >= BATCH_BYTES - 512) await this.flush();
  }

  /** Hands what is batched to the stream. */
  async flush(): Promise<void> {
    const batch = this.#current;
    if (batch === undefined || this.#used === 0) return;
    const used = this.#used;
    this.onSent(this.#files, this.#fileBytes);
    this.#current = undefined;
    this.#used = 0;
    this.#files = 0;
    this.#fileBytes = 0;
    await this.#send(batch.subarray(0, used), true, batch);
  }

  /** Closes the stream with its end marker (after `flush`, or alone when the stream failed). */
  end(): void {
    this.out.end(END_OF_STREAM);
  }

  async #send(data: Buffer, reuse: boolean, whole: Buffer = data): Promise<void> {
    this.#inFlight++;
    const ok = this.out.write(data, () => {
      this.#inFlight--;
      if (reuse) this.#spare.push(whole);
      const wake = this.#waiting;
      this.#waiting = undefined;
      wake?.();
    });
    if (!ok && !this.out.destroyed) await Promise.race([once(this.out, "drain"), this.exited]);
  }

  async #spareBuffer(): Promise<Buffer> {
    for (;;) {
      const spare = this.#spare.pop();
      if (spare !== undefined) return spare;
      if (this.#inFlight < SPARE_BATCHES || this.out.destroyed || this.remoteExited)
        return Buffer.allocUnsafe(BATCH_BYTES);
      await Promise.race([new Promise<void>((resolve) => (this.#waiting = resolve)), this.exited]);
    }
  }
}

const READ_BYTES = 1024 * 1024;

/** One decoded frame: the body is a view into the reader's buffer, valid until the next call. */
export interface Frame {
  header: FileHeader;
  body: Buffer;
}

/**
 * Decodes frames from a byte source (the receiver's stdin) read into one
 * buffer, handing out views of it: no stream machinery, no copy per file.
 * Whatever is wrong with the stream (cut short, a malformed or unsafe
 * header, an oversized file, a failing read) is a `TileSyncError` naming it.
 */
export class FrameReader {
  #buffer: Buffer;
  #start = 0;
  #end = 0;
  #ended = false;
  #finished = false;

  constructor(
    private readonly source: ByteSource,
    /** Bytes asked for per read (tests make it tiny to split every frame). */
    private readonly readBytes = READ_BYTES,
  ) {
    this.#buffer = Buffer.allocUnsafe(4 * readBytes);
  }

  /** The next frame; undefined once the end marker has been read. */
  async next(): Promise<Frame | undefined> {
    if (this.#finished) return undefined;
    const header = await this.#header();
    if (header === undefined) {
      this.#finished = true;
      return undefined;
    }
    return { header, body: await this.#body(header) };
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
    let n: number;
    try {
      n = await this.source.read(
        this.#buffer,
        this.#end,
        Math.min(this.readBytes, this.#buffer.length - this.#end),
      );
    } catch (error) {
      throw new TileSyncError(`reading the sync stream failed: ${(error as Error).message}`, {
        hint: RESEND,
        cause: error,
      });
    }
    if (n === 0) {
      this.#ended = true;
      return false;
    }
    this.#end += n;
    return true;
  }

  /** The next header, checked; undefined at the end marker. */
  async #header(): Promise<FileHeader | undefined> {
    // Bytes after #start already searched: relative, because a fill may move the buffered bytes.
    let searched = 0;
    for (;;) {
      const newline = this.#buffer.indexOf(10, this.#start + searched);
      if (newline >= 0 && newline < this.#end) {
        const line = this.#buffer.toString("utf8", this.#start, newline);
        this.#start = newline + 1;
        return checkHeader(line);
      }
      searched = this.#end - this.#start;
      if (searched > MAX_HEADER_BYTES)
        throw malformed(`a frame header is longer than ${MAX_HEADER_BYTES / 1024} KiB`);
      if (!(await this.#fill(0))) {
        throw new TileSyncError(
          this.#end === this.#start
            ? "the sync stream ended without its end marker: the connection was cut"
            : "the sync stream ended inside a frame header: the connection was cut",
          { hint: RESEND },
        );
      }
    }
  }

  async #body(header: FileHeader): Promise<Buffer> {
    while (this.#end - this.#start < header.bytes) {
      if (!(await this.#fill(header.bytes))) {
        const short = header.bytes - (this.#end - this.#start);
        throw new TileSyncError(
          `the sync stream ended ${short} bytes short of ${header.path}: the connection was cut`,
          { hint: RESEND },
        );
      }
    }
    const body = this.#buffer.subarray(this.#start, this.#start + header.bytes);
    this.#start += header.bytes;
    return body;
  }
}

/** A header line as the sender must have written it; undefined for the end marker. */
function checkHeader(line: string): FileHeader | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw malformed(`a frame header is not JSON (${JSON.stringify(line.slice(0, 80))})`);
  }
  const header = value as Partial<FileHeader> & { end?: unknown };
  if (header?.end === true) return undefined;
  const { path, bytes, sha256 } = header ?? {};
  if (
    typeof path !== "string" ||
    typeof sha256 !== "string" ||
    !/^[0-9a-f]{64}$/.test(sha256) ||
    typeof bytes !== "number" ||
    !Number.isSafeInteger(bytes) ||
    bytes < 0
  )
    throw malformed(`a frame header is not {path, bytes, sha256} (${JSON.stringify(line.slice(0, 120))})`);
  if (!SAFE_RELATIVE_PATH.test(path)) {
    throw new TileSyncError(
      `refusing a file named ${JSON.stringify(path)}: not a plain relative path under the tile root`,
      { hint: SAME_VERSION },
    );
  }
  if (bytes > MAX_FRAME_BYTES) {
    throw new TileSyncError(`refusing ${path}: ${bytes} bytes is over the ${MAX_FRAME_BYTES} byte limit`, {
      hint: "tiles and tilesets are far smaller: re-run `operator-tool tiles download` to repair the workstation's cache",
    });
  }
  return { path, bytes, sha256 };
}

function malformed(what: string): TileSyncError {
  return new TileSyncError(`the sync stream is malformed: ${what}`, { hint: SAME_VERSION });
}
