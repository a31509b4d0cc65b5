import type { ClientHttp2Session, ClientHttp2Stream, IncomingHttpHeaders } from "node:http2";
import type { ConnectionOptions, TLSSocket } from "node:tls";
import type { Dispatcher } from "undici";
import { MAX_TILE_BYTES, requestTile, type TileResponse } from "./tile-request.js";

/** How tiles travel: one request at a time per HTTP/1.1 connection, or many streams per HTTP/2 connection. */
export interface TileTransport {
  request(url: string, headers: Record<string, string>, signal: AbortSignal): Promise<TileResponse>;
  /** The protocol each origin was reached with so far ("h2" or "http/1.1"). */
  readonly protocols: ReadonlyMap<string, "h2" | "http/1.1">;
  close(): Promise<void>;
}

export interface TileTransportOptions {
  /** Requests in flight at most (the worker count). */
  concurrency: number;
  /**
   * Connections per origin at most. Undefined: HTTP/2 opens up to 2 (a second
   * only when the first is at the provider's stream limit); HTTP/1.1 opens one
   * per request in flight, up to 8.
   */
  maxConnections?: number | undefined;
  /** No answer (headers or the next body bytes) for this long fails the request. */
  requestTimeoutMs: number;
  /** PEM certificates trusted besides the system's, for a provider behind a private CA. */
  ca?: string | undefined;
}

const DEFAULT_H2_CONNECTIONS = 2;
const DEFAULT_H1_CONNECTIONS = 8;
/** Per-stream and per-connection receive windows: 64 KiB defaults would throttle dozens of 20 KB tiles in flight. */
const STREAM_WINDOW = 1 << 20;
const SESSION_WINDOW = 32 << 20;

/**
 * HTTP/2 over TLS where the provider offers it (ALPN), else HTTP/1.1.
 * HTTP/2 uses node:http2 rather than undici's `allowH2`: undici 7 still marks
 * it experimental and fails every in-flight stream on a graceful GOAWAY
 * (nodejs/undici#5089), where a provider's routine connection rotation should
 * cost nothing.
 */
export async function openTileTransport(options: TileTransportOptions): Promise<TileTransport> {
  const { Agent } = await import("undici");
  const http2 = await import("node:http2");
  const tls = await import("node:tls");
  const h1Connections = Math.min(options.concurrency, options.maxConnections ?? DEFAULT_H1_CONNECTIONS);
  const caList = options.ca === undefined ? undefined : [...tls.rootCertificates, options.ca];
  const h1 = new Agent({
    connections: Math.max(1, h1Connections),
    keepAliveTimeout: 10_000,
    headersTimeout: options.requestTimeoutMs,
    bodyTimeout: options.requestTimeoutMs,
    connect: {
      timeout: Math.min(options.requestTimeoutMs, 10_000),
      ...(caList === undefined ? {} : { ca: caList }),
    },
  });
  const routes = new Map<string, Promise<Route>>();
  const protocols = new Map<string, "h2" | "http/1.1">();
  const pools: H2Pool[] = [];

  const connectTls = (origin: URL, alpn: string[]): Promise<TLSSocket> =>
    new Promise((resolve, reject) => {
      const socket = tls.connect(tlsOptions(origin, alpn, caList));
      const timer = setTimeout(
        () => socket.destroy(codedError("UND_ERR_CONNECT_TIMEOUT", "connect timed out")),
        Math.min(options.requestTimeoutMs, 10_000),
      );
      socket.once("secureConnect", () => {
        clearTimeout(timer);
        socket.removeListener("error", reject);
        resolve(socket);
      });
      socket.once("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });

  /** Asks the provider which protocol it speaks; an h2 answer becomes the pool's first connection. */
  const probe = async (origin: string): Promise<Route> => {
    const url = new URL(origin);
    if (url.protocol !== "https:") {
      protocols.set(origin, "http/1.1");
      return { kind: "h1" };
    }
    const socket = await connectTls(url, ["h2", "http/1.1"]);
    if (socket.alpnProtocol !== "h2") {
      socket.destroy();
      protocols.set(origin, "http/1.1");
      return { kind: "h1" };
    }
    const maxSessions = options.maxConnections ?? DEFAULT_H2_CONNECTIONS;
    const pool = new H2Pool(
      maxSessions,
      (first) =>
        http2.connect(origin, {
          createConnection: first
            ? () => socket
            : () => {
                // node:http2 needs the socket now; it reports a failed handshake as a session error.
                return tls.connect(tlsOptions(url, ["h2"], caList));
              },
          settings: { enablePush: false, initialWindowSize: STREAM_WINDOW },
        }),
      options.requestTimeoutMs,
    );
    pools.push(pool);
    protocols.set(origin, "h2");
    return { kind: "h2", pool };
  };

  const routeFor = (origin: string): Promise<Route> => {
    let route = routes.get(origin);
    if (route === undefined) {
      route = probe(origin);
      routes.set(origin, route);
      // A provider that could not be reached is asked again by the next request.
      route.catch(() => routes.delete(origin));
    }
    return route;
  };

  return {
    protocols,
    async request(url, headers, signal) {
      const { origin, pathname, search } = new URL(url);
      const route = await routeFor(origin);
      signal.throwIfAborted();
      if (route.kind === "h1") return requestTile(h1 as Dispatcher, url, headers, signal);
      return route.pool.request(pathname + search, headers, signal);
    },
    async close() {
      await Promise.all([h1.close().catch(() => undefined), ...pools.map((p) => p.close())]);
    },
  };
}

type Route = { kind: "h1" } | { kind: "h2"; pool: H2Pool };

interface PooledSession {
  session: ClientHttp2Session;
  /** Streams open on it. */
  active: number;
  /** The provider's SETTINGS_MAX_CONCURRENT_STREAMS; 0 until its first SETTINGS frame arrives. */
  limit: number;
  /** GOAWAY received or the connection failed: finishes what it has, takes nothing new. */
  closing: boolean;
}

/**
 * The HTTP/2 connections to one origin. A request takes a stream on the oldest
 * connection with room under the provider's stream limit; another connection
 * opens only when all are full, up to `maxSessions`; otherwise it waits.
 */
class H2Pool {
  readonly #sessions: PooledSession[] = [];
  readonly #waiting: (() => void)[] = [];
  #opened = 0;
  #closed = false;
  /** Connections that failed before their first SETTINGS, and the last one's error. */
  #connectFailures = 0;
  #connectError: unknown;

  constructor(
    private readonly maxSessions: number,
    private readonly connect: (first: boolean) => ClientHttp2Session,
    private readonly timeoutMs: number,
  ) {}

  async request(path: string, headers: Record<string, string>, signal: AbortSignal): Promise<TileResponse> {
    const pooled = await this.#acquire(signal);
    pooled.active++;
    try {
      return await this.#stream(pooled, path, headers, signal);
    } finally {
      pooled.active--;
      this.#wake();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(
      this.#sessions.map(
        ({ session }) =>
          new Promise<void>((resolve) => {
            if (session.destroyed) return resolve();
            session.close(() => resolve());
            // A provider that never answers our GOAWAY must not hold the exit.
            setTimeout(() => session.destroy(), 2_000).unref();
          }),
      ),
    );
  }

  async #acquire(signal: AbortSignal): Promise<PooledSession> {
    for (;;) {
      signal.throwIfAborted();
      if (this.#closed) throw codedError("UND_ERR_DESTROYED", "the tile client is closed");
      const open = this.#sessions.filter((s) => !s.closing);
      const free = open.find((s) => s.limit > 0 && s.active < s.limit);
      if (free !== undefined) return free;
      // Still connecting (limit 0) counts as capacity soon: wait for its SETTINGS rather than open another.
      const connecting = open.some((s) => s.limit === 0);
      if (!connecting && open.length < this.maxSessions) this.#open();
      const failuresBefore = this.#connectFailures;
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => reject(signal.reason);
        signal.addEventListener("abort", onAbort, { once: true });
        this.#waiting.push(() => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        });
      });
      // A connection this request was waiting for failed: fail the request (it is retried with backoff) rather than spin.
      if (this.#connectFailures !== failuresBefore && !this.#sessions.some((s) => !s.closing && s.limit > 0))
        throw this.#connectError;
    }
  }

  #open(): void {
    const session = this.connect(this.#opened++ === 0);
    const pooled: PooledSession = { session, active: 0, limit: 0, closing: false };
    this.#sessions.push(pooled);
    const readLimit = () => {
      pooled.limit = Math.max(1, session.remoteSettings.maxConcurrentStreams ?? 100);
      this.#wake();
    };
    session.on("remoteSettings", readLimit);
    session.once("connect", () => session.setLocalWindowSize(SESSION_WINDOW));
    const retire = () => {
      if (pooled.closing) return;
      pooled.closing = true;
      this.#wake();
    };
    session.on("goaway", retire);
    session.on("error", (error) => {
      // Each stream on it reports its own failure; a connection that never got going fails its waiters.
      if (pooled.limit === 0) {
        this.#connectFailures++;
        this.#connectError = error;
      }
      retire();
    });
    session.once("close", () => {
      if (pooled.limit === 0 && !pooled.closing) {
        this.#connectFailures++;
        this.#connectError = codedError("UND_ERR_SOCKET", "connection closed before it was ready");
      }
      retire();
      const index = this.#sessions.indexOf(pooled);
      if (index >= 0) this.#sessions.splice(index, 1);
      this.#wake();
    });
  }

  #wake(): void {
    for (const resolve of this.#waiting.splice(0)) resolve();
  }

  #stream(
    pooled: PooledSession,
    path: string,
    headers: Record<string, string>,
    signal: AbortSignal,
  ): Promise<TileResponse> {
    return new Promise((resolve, reject) => {
      let stream: ClientHttp2Stream;
      try {
        stream = pooled.session.request({ ":method": "GET", ":path": path, ...headers }, { endStream: true });
      } catch (error) {
        // GOAWAY or a destroyed session between acquiring and asking: another connection will take it.
        pooled.closing = true;
        reject(error);
        return;
      }
      let status = 0;
      let responseHeaders: TileResponse["headers"] = {};
      let chunks: Buffer[] = [];
      let length = 0;
      let settled = false;
      const settle = (error: unknown, response?: TileResponse) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener("abort", onAbort);
        if (error !== undefined) reject(error);
        else resolve(response!);
      };
      const onAbort = () => {
        stream.close(0x8 /* CANCEL */);
        settle(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      stream.setTimeout(this.timeoutMs, () => {
        stream.close(0x8 /* CANCEL */);
        settle(codedError("UND_ERR_BODY_TIMEOUT", "no answer in time"));
      });
      stream.on("response", (incoming: IncomingHttpHeaders) => {
        status = Number(incoming[":status"]);
        responseHeaders = incoming;
      });
      stream.on("data", (chunk: Buffer) => {
        if (settled) return;
        length += chunk.length;
        if (length > MAX_TILE_BYTES) {
          chunks = [];
          stream.close(0x8 /* CANCEL */);
          settle(undefined, { status, headers: responseHeaders, body: undefined });
          return;
        }
        chunks.push(chunk);
      });
      stream.on("end", () => {
        const body = status === 200 ? concatOwned(chunks, length) : Buffer.alloc(0);
        settle(undefined, { status, headers: responseHeaders, body });
      });
      stream.on("error", (error) => settle(error));
      stream.on("close", () => {
        // Closed without an end: reset by the provider (RST_STREAM), refused after a GOAWAY, or the connection died.
        const code = stream.rstCode;
        settle(
          codedError(
            "UND_ERR_SOCKET",
            code === undefined || code === 0 ? "stream closed early" : `stream reset (code ${code})`,
          ),
        );
      });
    });
  }
}

function tlsOptions(url: URL, alpn: string[], ca: string[] | undefined): ConnectionOptions {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const options: ConnectionOptions = { host, port: Number(url.port || 443), ALPNProtocols: alpn };
  // SNI takes names only, never an IP address.
  if (!/^[\d.]+$/.test(host) && !host.includes(":")) options.servername = host;
  if (ca !== undefined) options.ca = ca;
  return options;
}

function codedError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
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
