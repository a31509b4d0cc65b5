import type { Dispatcher } from "undici";

/** A tile body larger than this is cut off and treated as a bad answer. */
export const MAX_TILE_BYTES = 16 * 1024 * 1024;

export interface TileResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Undefined when the body was over MAX_TILE_BYTES (the request was cut off). */
  body: Buffer | undefined;
}

/**
 * One GET through undici's dispatch API. The stream-based `request` costs a
 * Readable and an async iterator per call, which showed at thousands of tiles
 * per second; a tile is small and wanted whole anyway. The body lands in one
 * buffer of its own, so it can be handed to a writer thread without a copy.
 * Rejects on a network
 * error (reset, refused, timeout) and when `signal` aborts.
 */
export function requestTile(
  dispatcher: Dispatcher,
  url: string,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<TileResponse> {
  const { origin, pathname, search } = new URL(url);
  return new Promise((resolve, reject) => {
    let status = 0;
    let responseHeaders: TileResponse["headers"] = {};
    let chunks: Buffer[] = [];
    let length = 0;
    let tooLarge = false;
    let controller: { abort(reason: Error): void } | undefined;
    const onAbort = () => controller?.abort(signal.reason as Error);
    signal.addEventListener("abort", onAbort, { once: true });
    const settle = (error: Error | undefined, response?: TileResponse) => {
      signal.removeEventListener("abort", onAbort);
      if (error !== undefined) reject(error);
      else resolve(response!);
    };
    dispatcher.dispatch(
      { origin, path: pathname + search, method: "GET", headers },
      {
        onRequestStart(requestController) {
          controller = requestController;
          if (signal.aborted) requestController.abort(signal.reason as Error);
        },
        onResponseStart(_controller, statusCode, headers) {
          status = statusCode;
          responseHeaders = headers;
          chunks = [];
          length = 0;
        },
        onResponseData(responseController, chunk) {
          if (tooLarge) return;
          length += chunk.length;
          if (length > MAX_TILE_BYTES) {
            tooLarge = true;
            chunks = [];
            responseController.abort(new Error("tile body over the size limit"));
            settle(undefined, { status, headers: responseHeaders, body: undefined });
            return;
          }
          chunks.push(chunk);
        },
        onResponseEnd() {
          if (tooLarge) return;
          const body = status === 200 ? concatOwned(chunks, length) : Buffer.alloc(0);
          settle(undefined, { status, headers: responseHeaders, body });
        },
        onResponseError(_controller, error) {
          if (!tooLarge) settle(error);
        },
      },
    );
  });
}

/** Concatenates into a buffer that owns its whole ArrayBuffer (never a slice of Node's pool). */
function concatOwned(chunks: Buffer[], length: number): Buffer {
  const out = Buffer.allocUnsafeSlow(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
