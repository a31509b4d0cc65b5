import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  constants,
  createSecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
} from "node:http2";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createTileHandler,
  type TileHttpResponse,
  type TileServer,
  type TileServerOptions,
} from "./tile-server.js";

export interface TlsTileServerOptions extends TileServerOptions {
  /** What ALPN offers; both by default. `["http/1.1"]` is a provider without HTTP/2. */
  protocols?: readonly ("h2" | "http/1.1")[];
  /** Connections the server accepts at once; more are closed as they arrive, as a polite provider's limit. */
  maxConnections?: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS sent to each client (default 100, Node's own). */
  maxConcurrentStreams?: number;
}

export interface TlsTileServer extends TileServer {
  /** PEM of the private CA that signed the server's certificate (for 127.0.0.1 and localhost). */
  ca: string;
  /** The same CA as a file, for `--ca-file` and `curl --cacert`. */
  caFile: string;
  /** The ALPN protocol of every connection accepted, in order. */
  connections: string[];
  /** HTTP/2 sessions open right now. */
  openSessions(): number;
}

/**
 * A tile provider on loopback over TLS with a private CA, speaking HTTP/2 and
 * HTTP/1.1 (ALPN), with the same tiles and faults as `startTileServer`; on
 * HTTP/2 a reset is RST_STREAM and `goaway` is a GOAWAY frame.
 */
export async function startTlsTileServer(options: TlsTileServerOptions = {}): Promise<TlsTileServer> {
  const dir = mkdtempSync(join(tmpdir(), "tls-tile-server-"));
  const pki = makeTestPki(dir);
  const tiles = createTileHandler(options);
  const protocols = options.protocols ?? ["h2", "http/1.1"];
  const sockets = new Set<Socket>();
  const sessions = new Set<ServerHttp2Session>();
  const connections: string[] = [];
  const requests: TileServer["requests"] = [];
  const handler = (req: Http2ServerRequest | IncomingMessage, res: Http2ServerResponse | ServerResponse) => {
    requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, at: Date.now() });
    const cut =
      "stream" in req
        ? {
            reset: () => req.stream.close(constants.NGHTTP2_INTERNAL_ERROR),
            goaway: (graceful: boolean) => {
              const session = req.stream.session;
              if (session === undefined) return;
              if (graceful) session.close();
              else {
                session.goaway(constants.NGHTTP2_INTERNAL_ERROR);
                session.destroy();
              }
            },
          }
        : {
            reset: () => req.socket.destroy(),
            goaway: (graceful: boolean) => {
              if (graceful) res.setHeader("connection", "close");
              else req.socket.destroy();
            },
          };
    tiles.handle(req, res as TileHttpResponse, cut).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(599);
      res.end(String(error));
    });
  };
  const tlsOptions = { key: pki.key, cert: pki.cert };
  // Node's HTTP/2 server always offers h2; a provider without HTTP/2 is a plain HTTPS server.
  const server = protocols.includes("h2")
    ? createSecureServer(
        {
          ...tlsOptions,
          allowHTTP1: protocols.includes("http/1.1"),
          // Node's 10 MB default refuses streams (ENHANCE_YOUR_CALM) under 64 parallel 20 KB tiles; providers do not.
          maxSessionMemory: 256,
          settings: { maxConcurrentStreams: options.maxConcurrentStreams ?? 100 },
        },
        handler,
      )
    : createHttpsServer({ ...tlsOptions, ALPNProtocols: ["http/1.1"] }, handler);
  if (options.maxConnections !== undefined) server.maxConnections = options.maxConnections;
  server.on("secureConnection", (socket) => {
    sockets.add(socket);
    connections.push(socket.alpnProtocol || "http/1.1");
    socket.on("close", () => sockets.delete(socket));
  });
  server.on("session", (session: ServerHttp2Session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
    session.on("error", () => undefined);
  });
  server.on("sessionError", () => undefined);
  server.on("tlsClientError", () => undefined);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const url = `https://127.0.0.1:${port}`;
  const ext = options.format ?? "png";
  return {
    url,
    port,
    requests,
    template: `${url}/tiles/{z}/{x}/{y}.${ext}${options.apiKey === undefined ? "" : "?key={apiKey}"}`,
    attempts: tiles.attempts,
    served: tiles.served,
    notModified: tiles.notModified,
    replaceTile: tiles.replaceTile,
    tileBody: tiles.tileBody,
    ca: pki.ca,
    caFile: join(dir, "ca.pem"),
    connections,
    openSessions: () => sessions.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const session of sessions) session.destroy();
        for (const socket of sockets) socket.destroy();
        server.close(() => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}

/** A throwaway CA and a certificate it signs for 127.0.0.1 and localhost, made with `openssl`. */
function makeTestPki(dir: string): { ca: string; key: string; cert: string } {
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  openssl(
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=operator-tool test CA",
  );
  openssl(
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    "-subj",
    "/CN=127.0.0.1",
  );
  writeFileSync(join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  openssl(
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "2",
    "-extfile",
    "server.ext",
  );
  return {
    ca: readFileSync(join(dir, "ca.pem"), "utf8"),
    key: readFileSync(join(dir, "server.key"), "utf8"),
    cert: readFileSync(join(dir, "server.pem"), "utf8"),
  };
}
