import { deflateSync } from "node:zlib";
import { type LoopbackServer, startLoopbackServer } from "./loopback-server.js";

export interface TileRequest {
  z: number;
  x: number;
  y: number;
  /** How many times this tile has been asked for, this one included. */
  attempt: number;
}

/** What to do instead of serving the tile; undefined serves it. */
export type TileFault =
  | { status: number; headers?: Record<string, string>; body?: string }
  | { reset: true }
  | { truncate: true }
  | { contentType: string }
  | { notAnImage: true }
  | { delayMs: number }
  | { hang: true }
  /**
   * The connection goes away: `abrupt` after half the body (HTTP/2: GOAWAY with an
   * error, then the connection drops; HTTP/1.1: the connection drops); `graceful`
   * serves this tile, then no new requests on that connection (HTTP/2: GOAWAY).
   */
  | { goaway: "abrupt" | "graceful" };

export interface TileServerOptions {
  format?: "png" | "jpg";
  /** Tiles deeper than this answer 404, as real providers do. */
  maxZoom?: number;
  /** When set, requests must carry `?key=<apiKey>` or get 401. */
  apiKey?: string;
  /** Pad each tile to about this many bytes (a realistic satellite tile is 10-40 KB). */
  tileBytes?: number;
  latencyMs?: number;
  /**
   * Send validators and answer conditional requests with 304 when the tile is
   * unchanged: `etag`, `last-modified`, or both. Undefined: neither, as some
   * providers do.
   */
  validators?: "etag" | "last-modified" | "both";
  fault?: (request: TileRequest) => TileFault | undefined;
}

export interface TileServer extends LoopbackServer {
  /** `{z}/{x}/{y}` template for this server, with `?key={apiKey}` when a key is required. */
  template: string;
  attempts: Map<string, number>;
  /** Tile requests answered with the tile, by key. */
  served: Map<string, number>;
  /** Conditional requests answered 304, by key. */
  notModified: Map<string, number>;
  /** The provider's imagery changed: this tile's body (and validators) become new ones. */
  replaceTile(z: number, x: number, y: number): void;
  tileBody(z: number, x: number, y: number): Buffer;
}

/** The request and response a tile handler needs: node:http's, or node:http2's compatibility API. */
export interface TileHttpRequest {
  url?: string | undefined;
  headers: Record<string, string | string[] | undefined>;
}
export interface TileHttpResponse {
  headersSent: boolean;
  writeHead(status: number, headers?: Record<string, string>): TileHttpResponse;
  write(chunk: Buffer): unknown;
  end(body: Buffer | string): unknown;
}

/** How a protocol cuts an answer short: HTTP/1.1 drops the connection, HTTP/2 resets the stream. */
export interface TileCutters {
  reset(): void;
  goaway(graceful: boolean): void;
}

export interface TileHandler {
  handle(req: TileHttpRequest, res: TileHttpResponse, cut: TileCutters): Promise<void>;
  attempts: Map<string, number>;
  served: Map<string, number>;
  notModified: Map<string, number>;
  replaceTile(z: number, x: number, y: number): void;
  tileBody(z: number, x: number, y: number): Buffer;
}

/** Serves tiles with the faults `options.fault` asks for; shared by the HTTP/1.1 and the TLS (HTTP/2) servers. */
export function createTileHandler(options: TileServerOptions): TileHandler {
  const attempts = new Map<string, number>();
  const served = new Map<string, number>();
  const format = options.format ?? "png";
  const notModified = new Map<string, number>();
  const revisions = new Map<string, number>();
  const cache = new Map<string, Buffer>();
  const tileBody = (z: number, x: number, y: number) => {
    const key = `${z}/${x}/${y}`;
    let body = cache.get(key);
    if (body === undefined) {
      const revision = revisions.get(key) ?? 0;
      const label = revision === 0 ? key : `${key}#${revision}`;
      body =
        format === "png" ? makePng(label, options.tileBytes ?? 0) : makeJpeg(label, options.tileBytes ?? 0);
      if (cache.size < 50_000) cache.set(key, body);
    }
    return body;
  };
  const handle = async (req: TileHttpRequest, res: TileHttpResponse, cut: TileCutters) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const match = /^\/tiles\/(\d+)\/(\d+)\/(\d+)\.(png|jpg)$/.exec(url.pathname);
    if (match === null) {
      res.writeHead(400).end("bad path");
      return;
    }
    const [z, x, y] = [Number(match[1]), Number(match[2]), Number(match[3])];
    const key = `${z}/${x}/${y}`;
    const attempt = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, attempt);
    if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
    if (options.apiKey !== undefined && url.searchParams.get("key") !== options.apiKey) {
      res.writeHead(401, { "content-type": "text/plain" }).end("invalid key");
      return;
    }
    const fault = options.fault?.({ z, x, y, attempt });
    const body = tileBody(z, x, y);
    const contentType = format === "png" ? "image/png" : "image/jpeg";
    if (fault !== undefined) {
      if ("hang" in fault) return;
      if ("reset" in fault) {
        cut.reset();
        return;
      }
      if ("goaway" in fault) {
        if (fault.goaway === "abrupt") {
          res.writeHead(200, { "content-type": contentType, "content-length": String(body.length) });
          res.write(body.subarray(0, Math.floor(body.length / 2)));
          await new Promise((r) => setTimeout(r, 20));
          cut.goaway(false);
          return;
        }
        cut.goaway(true);
      }
      if ("delayMs" in fault) await new Promise((r) => setTimeout(r, fault.delayMs));
      if ("truncate" in fault) {
        res.writeHead(200, { "content-type": contentType, "content-length": String(body.length) });
        res.write(body.subarray(0, Math.floor(body.length / 2)));
        await new Promise((r) => setTimeout(r, 20));
        cut.reset();
        return;
      }
      if ("status" in fault) {
        res.writeHead(fault.status, { "content-type": "text/plain", ...fault.headers }).end(fault.body ?? "");
        return;
      }
      if ("contentType" in fault) {
        res.writeHead(200, { "content-type": fault.contentType }).end("<html>captive portal</html>");
        return;
      }
      if ("notAnImage" in fault) {
        res.writeHead(200, { "content-type": contentType }).end("definitely not an image");
        return;
      }
    }
    if (options.maxZoom !== undefined && z > options.maxZoom) {
      res.writeHead(404, { "content-type": "text/plain" }).end("no tile");
      return;
    }
    const validators: Record<string, string> = {};
    const revision = revisions.get(key) ?? 0;
    if (options.validators === "etag" || options.validators === "both")
      validators.etag = `"${key.replaceAll("/", "-")}-r${revision}"`;
    if (options.validators === "last-modified" || options.validators === "both")
      validators["last-modified"] = new Date(Date.UTC(2026, 0, 1 + revision)).toUTCString();
    const ifNoneMatch = req.headers["if-none-match"];
    const ifModifiedSince = req.headers["if-modified-since"];
    const unchanged =
      validators.etag !== undefined && ifNoneMatch !== undefined
        ? ifNoneMatch === validators.etag
        : validators["last-modified"] !== undefined &&
          typeof ifModifiedSince === "string" &&
          Date.parse(ifModifiedSince) >= Date.parse(validators["last-modified"]);
    if (unchanged) {
      notModified.set(key, (notModified.get(key) ?? 0) + 1);
      res.writeHead(304, validators).end("");
      return;
    }
    served.set(key, (served.get(key) ?? 0) + 1);
    res
      .writeHead(200, { "content-type": contentType, "content-length": String(body.length), ...validators })
      .end(body);
  };
  const replaceTile = (z: number, x: number, y: number) => {
    const key = `${z}/${x}/${y}`;
    revisions.set(key, (revisions.get(key) ?? 0) + 1);
    cache.delete(key);
  };
  return { handle, attempts, served, notModified, replaceTile, tileBody };
}

/** A tile provider on loopback serving valid, distinct PNG/JPEG tiles, with faults on demand. */
export async function startTileServer(options: TileServerOptions = {}): Promise<TileServer> {
  const tiles = createTileHandler(options);
  const server = await startLoopbackServer((req, res) =>
    tiles.handle(req, res, {
      reset: () => req.socket.destroy(),
      goaway: (graceful) => {
        if (graceful) res.shouldKeepAlive = false;
        else req.socket.destroy();
      },
    }),
  );
  const ext = options.format ?? "png";
  const template = `${server.url}/tiles/{z}/{x}/{y}.${ext}${options.apiKey === undefined ? "" : "?key={apiKey}"}`;
  return Object.assign(server, {
    template,
    attempts: tiles.attempts,
    served: tiles.served,
    notModified: tiles.notModified,
    replaceTile: tiles.replaceTile,
    tileBody: tiles.tileBody,
  });
}

/** A valid 1×1 PNG whose bytes depend on `label`, padded with a text chunk. */
export function makePng(label: string, padTo = 0): Buffer {
  const chunks = [
    pngChunk("IHDR", Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0])),
    pngChunk("tEXt", Buffer.from(`tile\0${label}`, "latin1")),
  ];
  const used = 8 + chunks.reduce((n, c) => n + c.length, 0) + 12 + 12 + 11;
  if (padTo > used + 12)
    chunks.push(pngChunk("tEXt", Buffer.from(`pad\0${"x".repeat(padTo - used - 12 - 4)}`, "latin1")));
  const hash = [...label].reduce((h, c) => (h * 31 + c.charCodeAt(0)) & 0xffffff, 7);
  chunks.push(
    pngChunk("IDAT", deflateSync(Buffer.from([0, hash & 255, (hash >> 8) & 255, (hash >> 16) & 255]))),
  );
  chunks.push(pngChunk("IEND", Buffer.alloc(0)));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ...chunks]);
}

const JPEG_1X1 = Buffer.from(
  "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP//////////////////////////////////////////////////////////////////////////////////////wgALCAABAAEBAREA/8QAFBABAAAAAAAAAAAAAAAAAAAAAP/aAAgBAQABPxA=",
  "base64",
);

/** A 1×1 JPEG with a comment segment carrying `label` (and padding). */
export function makeJpeg(label: string, padTo = 0): Buffer {
  const text = Buffer.from(
    label.padEnd(Math.max(label.length, padTo - JPEG_1X1.length - 4), " "),
    "latin1",
  ).subarray(0, 65_000);
  const com = Buffer.concat([
    Buffer.from([0xff, 0xfe, (text.length + 2) >> 8, (text.length + 2) & 255]),
    text,
  ]);
  return Buffer.concat([JPEG_1X1.subarray(0, 2), com, JPEG_1X1.subarray(2)]);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(data: Buffer): number {
  let c = 0xffffffff;
  for (const byte of data) c = CRC_TABLE[(c ^ byte) & 255]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typed = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed));
  return Buffer.concat([length, typed, crc]);
}
