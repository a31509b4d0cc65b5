import { existsSync, fstatSync, read, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { ConsumedMessage, ReadAheadMessage, ReadAheadSettings } from "./read-ahead-worker.js";

/** Where frames come from: the receiver's stdin in production, a file or FIFO in tests. */
export interface ByteSource {
  /** Reads up to `most` bytes into `into` at `at`; 0 at the end of the input. */
  read(into: Buffer, at: number, most: number): Promise<number>;
  /** Stops reading (a pending read may fail); the descriptor may be closed by then. */
  close(): Promise<void>;
}

const MAX_BUFFERED_BYTES = 32 * 1024 * 1024;

/**
 * The right source for `fd`: a pipe or socket (what sshd hands a remote
 * command) is drained by a read-ahead thread; anything else is read directly.
 */
export function openInput(fd: number, options: { maxBufferedBytes?: number } = {}): ByteSource {
  const info = fstatSync(fd);
  return info.isFIFO() || info.isSocket()
    ? new ReadAheadInput(fd, options.maxBufferedBytes ?? MAX_BUFFERED_BYTES)
    : new DirectInput(fd);
}

/** Reads on demand through libuv's pool, so the event loop keeps running while the input is slow. */
export class DirectInput implements ByteSource {
  constructor(private readonly fd: number) {}

  async read(into: Buffer, at: number, most: number): Promise<number> {
    for (;;) {
      try {
        return await new Promise<number>((resolve, reject) =>
          read(this.fd, into, at, most, null, (error, n) => (error ? reject(error) : resolve(n))),
        );
      } catch (error) {
        // An input left non-blocking by whoever opened it: wait a moment and ask again.
        if ((error as NodeJS.ErrnoException).code !== "EAGAIN") throw error;
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    }
  }

  async close(): Promise<void> {}
}

/**
 * Keeps a pipe drained while the main thread is busy with what it already
 * read. A pipe holds 64 KiB: read only when the main thread asks, every
 * pause to hash and write files stalls the writer (sshd, and behind it the
 * whole SSH channel), and the two sides take turns instead of overlapping.
 */
export class ReadAheadInput implements ByteSource {
  readonly #worker: Worker;
  readonly #chunks: Uint8Array[] = [];
  /** Bytes of the first chunk already handed out. */
  #offset = 0;
  #ended = false;
  #failure: Error | undefined;
  #unreported = 0;
  /** Consumption is reported in steps, not per read: one message per step. */
  readonly #reportBytes: number;
  #wake: (() => void) | undefined;

  constructor(fd: number, maxBufferedBytes: number) {
    const script = readAheadWorkerScript();
    const settings: ReadAheadSettings = { fd, maxBufferedBytes };
    this.#reportBytes = Math.max(1, Math.min(1024 * 1024, Math.floor(maxBufferedBytes / 4)));
    this.#worker = new Worker(script, { workerData: settings, execArgv: [] });
    this.#worker.on("message", (message: ReadAheadMessage) => {
      if ("chunk" in message) this.#chunks.push(message.chunk);
      else if ("end" in message) this.#ended = true;
      else this.#failure = Object.assign(new Error(message.error.message), { code: message.error.code });
      this.#notify();
    });
    this.#worker.on("error", (error) => {
      this.#failure ??= error;
      this.#notify();
    });
    this.#worker.on("exit", (code) => {
      this.#failure ??= new Error(`the input reader thread exited (${code})`);
      this.#notify();
    });
  }

  async read(into: Buffer, at: number, most: number): Promise<number> {
    while (this.#chunks.length === 0) {
      if (this.#ended) return 0;
      if (this.#failure !== undefined) throw this.#failure;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    let n = 0;
    while (n < most && this.#chunks.length > 0) {
      const chunk = this.#chunks[0]!;
      const take = Math.min(most - n, chunk.length - this.#offset);
      into.set(chunk.subarray(this.#offset, this.#offset + take), at + n);
      n += take;
      this.#offset += take;
      if (this.#offset === chunk.length) {
        this.#chunks.shift();
        this.#offset = 0;
      }
    }
    this.#unreported += n;
    if (this.#unreported >= this.#reportBytes) {
      this.#worker.postMessage({ consumed: this.#unreported } satisfies ConsumedMessage);
      this.#unreported = 0;
    }
    return n;
  }

  /** Stops the reader thread; a read waiting for input fails instead of waiting forever. */
  async close(): Promise<void> {
    this.#worker.removeAllListeners("exit");
    this.#failure ??= new Error("the input was closed");
    this.#chunks.length = 0;
    this.#notify();
    await this.#worker.terminate();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/**
 * The worker's script, beside this module. A test runner that runs this
 * module from its TypeScript source cannot start a thread on TypeScript, so
 * there the thread runs the built script, and refuses one older than its
 * source rather than test stale code.
 */
export function readAheadWorkerScript(here = import.meta.url): URL {
  if (!here.endsWith(".ts")) return new URL("./read-ahead-worker.js", here);
  const built = new URL("../dist/read-ahead-worker.js", here);
  const source = new URL("./read-ahead-worker.ts", here);
  if (!existsSync(built) || statSync(built).mtimeMs < statSync(source).mtimeMs)
    throw new Error(`${fileURLToPath(built)} is older than ${fileURLToPath(source)}: run \`pnpm build\``);
  return built;
}
