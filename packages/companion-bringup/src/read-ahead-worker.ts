// Runs inside the worker thread of `ReadAheadInput`: drains a pipe or socket
// as fast as the writer fills it and passes each chunk to the main thread,
// up to a byte limit. The descriptor is read through the worker's own event
// loop (non-blocking, epoll), never with a blocking read(2): a thread stuck in
// read(2) cannot be stopped, and Node waits for its worker threads at exit.
import { Socket } from "node:net";
import { parentPort, workerData } from "node:worker_threads";

export interface ReadAheadSettings {
  fd: number;
  /** Bytes handed over and not yet consumed before reading pauses. */
  maxBufferedBytes: number;
}

/** Main thread → worker: bytes the main thread has used up since its last report. */
export interface ConsumedMessage {
  consumed: number;
}

export type ReadAheadMessage =
  | { chunk: Uint8Array }
  | { end: true }
  | { error: { message: string; code: string | undefined } };

const { fd, maxBufferedBytes } = workerData as ReadAheadSettings;
const port = parentPort!;
let buffered = 0;
const input = new Socket({ fd, readable: true, writable: false });

input.on("data", (chunk: Buffer) => {
  buffered += chunk.length;
  // A socket read lands in memory of its own, which can move to the main
  // thread instead of being copied; anything else is copied.
  const owned = chunk.byteOffset === 0 && chunk.buffer.byteLength === chunk.length;
  const message: ReadAheadMessage = { chunk: owned ? chunk : Uint8Array.from(chunk) };
  port.postMessage(message, owned ? [chunk.buffer as ArrayBuffer] : []);
  if (buffered >= maxBufferedBytes) input.pause();
});
input.on("end", () => port.postMessage({ end: true } satisfies ReadAheadMessage));
input.on("error", (error: NodeJS.ErrnoException) =>
  port.postMessage({ error: { message: error.message, code: error.code } } satisfies ReadAheadMessage),
);
port.on("message", ({ consumed }: ConsumedMessage) => {
  buffered -= consumed;
  if (input.isPaused() && buffered < maxBufferedBytes / 2) input.resume();
});
