import { readFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, startTlsTileServer, type TlsTileServer } from "@operator-tool/test-helpers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type DownloadTilesOptions, downloadTiles } from "./download-tiles.js";
import { defineProvider } from "./provider.js";
import type { TileCoord } from "./tile-math.js";

let temp: ReturnType<typeof makeTempDir>;
let server: TlsTileServer | undefined;

beforeEach(() => {
  temp = makeTempDir();
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  temp.cleanup();
});

function grid(z: number, x0: number, y0: number, w: number, h: number): TileCoord[] {
  const out: TileCoord[] = [];
  for (let x = x0; x < x0 + w; x++) for (let y = y0; y < y0 + h; y++) out.push({ z, x, y });
  return out;
}

function run(tiles: TileCoord[], overrides: Partial<DownloadTilesOptions> = {}) {
  const provider = defineProvider({
    urlTemplate: server!.template,
    apiKey: "not-the-key",
    id: "tls-provider",
  });
  const cacheDir = join(temp.path, "tiles", provider.id);
  return downloadTiles({
    tiles,
    provider,
    providerCacheDir: cacheDir,
    tileset: {
      path: join(cacheDir, "tilesets", "F-1.json"),
      flightId: "F-1",
      coverage: "bbox",
      zooms: [10],
      bufferM: 0,
    },
    userAgent: "operator-tool/test",
    concurrency: 16,
    ca: server!.ca,
    retryBaseDelayMs: 5,
    retryMaxDelayMs: 20,
    breakerCooldownMs: 50,
    requestTimeoutMs: 5_000,
    ...overrides,
  });
}

const cacheFile = (t: TileCoord) =>
  join(temp.path, "tiles", "tls-provider", String(t.z), String(t.x), `${t.y}.png`);

/** Every tile on disk is exactly the provider's tile: nothing half-written or mixed up. */
function expectEveryTileWhole(tiles: TileCoord[]) {
  for (const t of tiles) expect(readFileSync(cacheFile(t))).toEqual(server!.tileBody(t.z, t.x, t.y));
}

describe("downloadTiles over TLS with HTTP/2", () => {
  it("negotiates HTTP/2 and multiplexes all requests over one connection", async () => {
    server = await startTlsTileServer({ latencyMs: 5 });
    const tiles = grid(10, 500, 300, 8, 8);
    const result = await run(tiles);
    expect(result.outcome).toBe("complete");
    expect(result.counts.fetched).toBe(64);
    expect(Object.values(result.protocols)).toEqual(["h2"]);
    expect(server.connections).toEqual(["h2"]);
    expectEveryTileWhole(tiles);
  });

  it("opens a second connection only when the first is at the provider's stream limit, up to --max-connections", async () => {
    server = await startTlsTileServer({ latencyMs: 20, maxConcurrentStreams: 4 });
    const tiles = grid(10, 500, 300, 6, 6);
    const result = await run(tiles, { concurrency: 16, maxConnections: 3 });
    expect(result.outcome).toBe("complete");
    expect(server.connections).toEqual(["h2", "h2", "h2"]);
    expectEveryTileWhole(tiles);
  });

  it("a provider without HTTP/2 is reached over HTTP/1.1 on the same TLS settings", async () => {
    server = await startTlsTileServer({ protocols: ["http/1.1"] });
    const tiles = grid(10, 500, 300, 5, 5);
    const result = await run(tiles, { maxConnections: 4 });
    expect(result.outcome).toBe("complete");
    expect(Object.values(result.protocols)).toEqual(["http/1.1"]);
    expect(server.connections.every((p) => p === "http/1.1")).toBe(true);
    // The ALPN probe, then at most --max-connections for the requests.
    expect(server.connections.length).toBeLessThanOrEqual(5);
    expectEveryTileWhole(tiles);
  });

  it("without the private CA the certificate is refused, and every tile fails with the reason", async () => {
    server = await startTlsTileServer();
    const result = await run(grid(10, 500, 300, 2, 1), { ca: undefined, maxAttempts: 2 });
    expect(result.outcome).toBe("incomplete");
    expect(result.counts.failed).toBe(2);
    expect(result.failedTiles[0]!.error).toMatch(/certificate is not trusted.*--ca-file/);
    expect(server.served.size).toBe(0);
  });

  it("429 with Retry-After pauses every request, then all tiles arrive", async () => {
    let limited = 0;
    server = await startTlsTileServer({
      fault: (r) =>
        r.x === 502 && r.attempt === 1 && limited++ === 0
          ? { status: 429, headers: { "retry-after": "1" } }
          : undefined,
    });
    const tiles = grid(10, 500, 300, 6, 4);
    const started = Date.now();
    const result = await run(tiles, { concurrency: 4 });
    expect(result.outcome).toBe("complete");
    expect(result.rateLimitedMs).toBeGreaterThanOrEqual(900);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expectEveryTileWhole(tiles);
  });

  it("5xx, reset streams (RST_STREAM) and truncated bodies are retried; no tile on disk is corrupt", async () => {
    server = await startTlsTileServer({
      fault: (r) => {
        if (r.attempt > 1) return undefined;
        if (r.x === 500) return { status: 503 };
        if (r.x === 501) return { reset: true };
        if (r.x === 502) return { truncate: true };
        return undefined;
      },
    });
    const tiles = grid(10, 500, 300, 4, 4);
    const result = await run(tiles);
    expect(result.outcome).toBe("complete");
    expect(result.counts).toMatchObject({ fetched: 16, failed: 0 });
    for (const t of tiles) expect(server.attempts.get(`10/${t.x}/${t.y}`)).toBe(t.x <= 502 ? 2 : 1);
    expectEveryTileWhole(tiles);
    // Resets are per stream: the connection itself stayed up.
    expect(server.connections).toEqual(["h2"]);
  });

  it("a GOAWAY mid-download (the connection dropped) costs retries on a new connection, no corrupt tile", async () => {
    let dropped = false;
    server = await startTlsTileServer({
      latencyMs: 5,
      fault: (r) => {
        if (r.x === 503 && r.y === 302 && !dropped) {
          dropped = true;
          return { goaway: "abrupt" };
        }
        return undefined;
      },
    });
    const tiles = grid(10, 500, 300, 8, 8);
    const result = await run(tiles);
    expect(result.outcome).toBe("complete");
    expect(result.counts).toMatchObject({ fetched: 64, failed: 0 });
    expect(server.connections.length).toBeGreaterThanOrEqual(2);
    expectEveryTileWhole(tiles);
  });

  it("a graceful GOAWAY lets in-flight tiles finish and moves new requests to a new connection", async () => {
    let closed = false;
    server = await startTlsTileServer({
      latencyMs: 5,
      fault: (r) => {
        if (r.x === 502 && !closed) {
          closed = true;
          return { goaway: "graceful" };
        }
        return undefined;
      },
    });
    const tiles = grid(10, 500, 300, 8, 8);
    const result = await run(tiles);
    expect(result.outcome).toBe("complete");
    expect(result.counts).toMatchObject({ fetched: 64, failed: 0 });
    expect(server.connections).toEqual(["h2", "h2"]);
    expectEveryTileWhole(tiles);
  });

  it("a 401 stops the run at once, as over HTTP/1.1", async () => {
    server = await startTlsTileServer({ apiKey: "the-real-key" });
    const result = await run(grid(10, 500, 300, 10, 10), { concurrency: 4 });
    expect(result.outcome).toBe("aborted");
    expect(result.abortReason).toMatch(/rejected the API key \(HTTP 401/);
    expect(result.requests).toBeLessThan(20);
  });
});
