import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, startTileServer, type TileServer } from "@operator-tool/test-helpers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type DownloadTilesOptions, downloadTiles } from "./download-tiles.js";
import { TileDownloadError } from "./errors.js";
import { defineProvider } from "./provider.js";
import { readTileset } from "./tile-cache.js";
import type { TileCoord } from "./tile-math.js";

const API_KEY = "tile-key-Qw3rty-secret";
let temp: ReturnType<typeof makeTempDir>;
let server: TileServer | undefined;
const locks: Array<{ unlock(): void }> = [];

beforeEach(() => {
  temp = makeTempDir();
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  // Even when a test timed out before its own finally: temp.cleanup cannot remove a locked directory.
  for (const lock of locks.splice(0)) lock.unlock();
  temp.cleanup();
});

function grid(z: number, x0: number, y0: number, w: number, h: number): TileCoord[] {
  const out: TileCoord[] = [];
  for (let x = x0; x < x0 + w; x++) for (let y = y0; y < y0 + h; y++) out.push({ z, x, y });
  return out;
}

function run(tiles: TileCoord[], overrides: Partial<DownloadTilesOptions> = {}) {
  const provider = defineProvider({ urlTemplate: server!.template, apiKey: API_KEY, id: "test-provider" });
  const cacheDir = join(temp.path, "tiles", provider.id);
  return downloadTiles({
    tiles,
    provider,
    providerCacheDir: cacheDir,
    tileset: {
      path: join(cacheDir, "tilesets", "F-1.json"),
      flightId: "F-1",
      coverage: "corridor",
      zooms: [10],
      bufferM: 500,
    },
    userAgent: "operator-tool/test",
    concurrency: 4,
    retryBaseDelayMs: 5,
    retryMaxDelayMs: 20,
    breakerCooldownMs: 50,
    requestTimeoutMs: 2_000,
    ...overrides,
  });
}

const cacheFile = (t: TileCoord, ext = "png") =>
  join(temp.path, "tiles", "test-provider", String(t.z), String(t.x), `${t.y}.${ext}`);

describe("downloadTiles against a loopback tile server", () => {
  it("fetches every tile, writes valid files and a tileset with sizes and digests, key-free", async () => {
    server = await startTileServer({ apiKey: API_KEY });
    const tiles = grid(10, 500, 300, 5, 4);
    const result = await run(tiles);
    expect(result.outcome).toBe("complete");
    expect(result.counts).toEqual({ planned: 20, fetched: 20, cached: 0, absent: 0, failed: 0 });
    for (const t of tiles) expect(readFileSync(cacheFile(t))).toEqual(server.tileBody(t.z, t.x, t.y));
    const tilesetText = readFileSync(result.tilesetPath!, "utf8");
    expect(tilesetText).not.toContain(API_KEY);
    const tileset = await readTileset(result.tilesetPath!);
    expect(tileset!.tiles).toHaveLength(20);
    expect(tileset!.tiles[0]).toMatchObject({ z: 10, x: 500, y: 300, path: "10/500/300.png" });
    expect(tileset!.tiles[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(tileset!.urlTemplate).toContain("{apiKey}");
  });

  it("a second run with everything present makes no request and leaves the tileset alone", async () => {
    server = await startTileServer({ apiKey: API_KEY });
    const tiles = grid(10, 500, 300, 6, 6);
    const first = await run(tiles);
    const mtime = statSync(first.tilesetPath!).mtimeMs;
    const before = server.requests.length;
    const second = await run(tiles);
    expect(server.requests.length).toBe(before);
    expect(second.counts).toMatchObject({ cached: 36, fetched: 0 });
    expect(second.tilesetWritten).toBe(false);
    expect(statSync(first.tilesetPath!).mtimeMs).toBe(mtime);
  });

  it("records 404 and 204 as absent without retrying, and does not ask again next run", async () => {
    server = await startTileServer({
      maxZoom: 10,
      fault: (r) => (r.x === 501 && r.y === 300 ? { status: 204 } : undefined),
    });
    const tiles = [...grid(10, 500, 300, 2, 1), ...grid(11, 1000, 600, 2, 1)];
    const result = await run(tiles);
    expect(result.outcome).toBe("complete");
    expect(result.counts).toMatchObject({ fetched: 1, absent: 3, failed: 0 });
    expect(server.attempts.get("11/1000/600")).toBe(1);
    expect((await readTileset(result.tilesetPath!))!.absent).toHaveLength(3);
    const again = await run(tiles);
    expect(again.requests).toBe(0);
    expect(again.counts.absent).toBe(3);
  });

  it("a 401 stops the whole download at once", async () => {
    server = await startTileServer({ apiKey: "the-real-key" });
    const result = await run(grid(10, 500, 300, 10, 10), { concurrency: 2 });
    expect(result.outcome).toBe("aborted");
    expect(result.abortReason).toContain("the provider rejected the API key (HTTP 401");
    expect(result.abortReason).not.toContain(API_KEY);
    expect(server.requests.length).toBeLessThanOrEqual(3);
    expect(result.tilesetPath).toBeUndefined();
  });

  it("retries 500s, resets, truncated bodies, wrong content-type and garbage bodies until they recover", async () => {
    const faults = [
      { status: 500 },
      { reset: true as const },
      { truncate: true as const },
      { contentType: "text/html" },
      { notAnImage: true as const },
    ];
    server = await startTileServer({
      format: "jpg",
      fault: (r) => (r.attempt <= 2 ? faults[(r.x + r.y) % faults.length] : undefined),
    });
    const tiles = grid(10, 500, 300, 5, 2);
    const result = await run(tiles);
    expect(result.outcome).toBe("complete");
    expect(result.counts.fetched).toBe(10);
    for (const t of tiles) {
      expect(server.attempts.get(`${t.z}/${t.x}/${t.y}`)).toBe(3);
      expect(readFileSync(cacheFile(t, "jpg"))).toEqual(server.tileBody(t.z, t.x, t.y));
    }
  });

  it("fails a tile after the retry budget with its last error; the rest complete", async () => {
    server = await startTileServer({ fault: (r) => (r.x === 502 ? { status: 503 } : undefined) });
    const result = await run(grid(10, 500, 300, 4, 1), { maxAttempts: 3 });
    expect(result.outcome).toBe("incomplete");
    expect(result.counts).toMatchObject({ fetched: 3, failed: 1 });
    expect(result.failedTiles).toEqual([{ z: 10, x: 502, y: 300, error: "HTTP 503 (after 3 attempts)" }]);
    expect(server.attempts.get("10/502/300")).toBe(3);
    expect(result.tilesetPath).toBeUndefined();
  });

  it("times out a slow tile and retries it", async () => {
    server = await startTileServer({
      fault: (r) => (r.x === 500 && r.attempt === 1 ? { hang: true } : undefined),
    });
    // The run's 2 s request timeout: long enough that a loaded machine serves the other tiles within it.
    const result = await run(grid(10, 500, 300, 2, 1));
    expect(result.outcome).toBe("complete");
    expect(server.attempts.get("10/500/300")).toBe(2);
  });

  it.each([
    ["seconds", () => "1", 900],
    // Whole seconds only: 3 s from now is at least 2 s away once truncated.
    ["an HTTP date", () => new Date(Date.now() + 3000).toUTCString(), 1900],
  ])("a 429 with Retry-After in %s pauses every worker for the window", async (_, retryAfter, pauseMs) => {
    let limited: number | undefined;
    server = await startTileServer({
      fault: (r) => {
        if (limited === undefined && r.x === 503) {
          limited = Date.now();
          return { status: 429, headers: { "retry-after": retryAfter() } };
        }
        return undefined;
      },
    });
    const concurrency = 4;
    const result = await run(grid(10, 500, 300, 8, 5), { concurrency });
    expect(result.outcome).toBe("complete");
    // Only what the other workers had on the wire, or sent before the 429 reached the client,
    // may land inside the window: at most two each. Without the shared pause it would be dozens.
    const inWindow = server.requests.filter((r) => r.at > limited! && r.at < limited! + pauseMs);
    expect(inWindow.length).toBeLessThanOrEqual(2 * (concurrency - 1));
    expect(result.rateLimitedMs).toBeGreaterThanOrEqual(pauseMs);
  });

  it("gives up on rate limits past the wait budget instead of retrying forever", async () => {
    server = await startTileServer({ fault: () => ({ status: 429, headers: { "retry-after": "1" } }) });
    const result = await run(grid(10, 500, 300, 3, 1), { maxRateLimitWaitMs: 1500 });
    expect(result.outcome).toBe("aborted");
    expect(result.abortReason).toContain("kept rate-limiting");
  });

  it("a circuit breaker stops hammering a host that keeps failing", async () => {
    server = await startTileServer({ fault: () => ({ status: 500 }) });
    const result = await run(grid(10, 500, 300, 20, 20), {
      breakerThreshold: 10,
      breakerMaxTrips: 2,
      maxAttempts: 100,
    });
    expect(result.outcome).toBe("aborted");
    expect(result.abortReason).toMatch(/keeps failing \(HTTP 500\)/);
    // 3 openings × 10 failures, plus what was already in flight: far below 400 tiles × 100 attempts.
    expect(server.requests.length).toBeLessThan(60);
  });

  it("caps requests per second per host", async () => {
    server = await startTileServer();
    const started = Date.now();
    await run(grid(10, 500, 300, 11, 1), { maxRequestsPerSecond: 20 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
  });

  it("records a provider's known blank placeholder as absent", async () => {
    server = await startTileServer();
    const { createHash } = await import("node:crypto");
    const blank = createHash("sha256")
      .update(server.tileBody(10, 500, 300))
      .digest("hex");
    const result = await run(grid(10, 500, 300, 2, 1), { blankTileSha256: [blank] });
    expect(result.counts).toMatchObject({ absent: 1, fetched: 1 });
  });

  it("resumes: only missing tiles are fetched; stale temp files are swept, and a damaged tileset is rebuilt", async () => {
    server = await startTileServer();
    const tiles = grid(10, 500, 300, 4, 4);
    const first = await run(tiles);
    rmSync(cacheFile(tiles[3]!));
    rmSync(cacheFile(tiles[7]!));
    const debris = join(temp.path, "tiles", "test-provider", "10", "500", ".300.png.tmp-999999-dead");
    writeFileSync(debris, "half a tile");
    writeFileSync(first.tilesetPath!, "{ broken");
    const before = new Map(server.attempts);
    const second = await run(tiles);
    expect(second.counts).toMatchObject({ fetched: 2, cached: 14 });
    const refetched = [...server.attempts].filter(([k, n]) => n !== (before.get(k) ?? 0)).map(([k]) => k);
    expect(refetched.sort()).toEqual(["10/500/303", "10/501/303"]);
    expect(readdirSync(join(temp.path, "tiles", "test-provider", "10", "500"))).not.toContain(
      ".300.png.tmp-999999-dead",
    );
    expect((await readTileset(second.tilesetPath!))!.tiles).toHaveLength(16);
  });

  it("stops promptly when the caller aborts", async () => {
    const controller = new AbortController();
    server = await startTileServer({
      latencyMs: 50,
      fault: () => {
        // Aborted as the fifth request arrives, with four workers busy.
        if (server!.requests.length >= 5) controller.abort(new Error("interrupted"));
        return undefined;
      },
    });
    await expect(
      run(grid(10, 500, 300, 20, 20), { signal: controller.signal, concurrency: 4 }),
    ).rejects.toThrow("interrupted");
    // What the workers already had on the wire, and nothing after it.
    expect(server.requests.length).toBeLessThanOrEqual(5 + 4);
  });

  it("refuses a staging root it cannot write before asking for any tile: one coded error naming the path", async () => {
    server = await startTileServer();
    const tiles = join(temp.path, "tiles");
    writeFileSync(tiles, "a file where the tile directory should be");
    const error = await run(grid(10, 500, 300, 2, 2)).then(
      () => undefined,
      (e: unknown) => e as TileDownloadError,
    );
    expect(error).toBeInstanceOf(TileDownloadError);
    expect(error!.code).toBe("TILE_DOWNLOAD_FAILED");
    expect(error!.message).toBe(
      `cannot write the tile cache at ${join(tiles, "test-provider")}: a part of the path is a file, not a directory (ENOTDIR)`,
    );
    expect(error!.hint).toBe("move that file away, or choose another --staging-root");
    expect(server.requests).toEqual([]);
  });

  it("an unwritable or immutable cache directory is the same coded error, before any request", async () => {
    server = await startTileServer();
    const cacheDir = join(temp.path, "tiles", "test-provider");
    mkdirSync(cacheDir, { recursive: true });
    const locked = lockDirectory(cacheDir);
    try {
      const error = await run(grid(10, 500, 300, 2, 2)).then(
        () => undefined,
        (e: unknown) => e as TileDownloadError,
      );
      expect(error).toBeInstanceOf(TileDownloadError);
      expect(error!.message).toMatch(
        new RegExp(
          `^cannot write the tile cache at ${cacheDir}: (permission denied \\(EACCES\\)|operation not permitted \\(EPERM\\))$`,
        ),
      );
      expect(error!.hint).toMatch(/writable by this user.*or choose another --staging-root$/);
      expect(server.requests).toEqual([]);
    } finally {
      locked.unlock();
    }
  });

  it("a cache directory that becomes unwritable mid-run stops the run with the coded error, not one failure per tile", async () => {
    const cacheDir = join(temp.path, "tiles", "test-provider");
    let locked: { unlock(): void } | undefined;
    server = await startTileServer({
      fault: () => {
        // Once the write check has passed and tiles flow: lock the zoom directory.
        if (locked === undefined && server!.requests.length === 3) {
          mkdirSync(join(cacheDir, "10"), { recursive: true });
          locked = lockDirectory(join(cacheDir, "10"));
        }
        return undefined;
      },
    });
    try {
      const error = await run(grid(10, 500, 300, 10, 10), { concurrency: 2 }).then(
        () => undefined,
        (e: unknown) => e as TileDownloadError,
      );
      expect(error).toBeInstanceOf(TileDownloadError);
      expect(error!.message).toMatch(/^cannot write the tile cache at .*\/10\/50\d: .*\((EACCES|EPERM)\)$/);
      expect(server.requests.length).toBeLessThan(100);
    } finally {
      locked?.unlock();
    }
  });
});

/**
 * Makes `dir` refuse new entries: read-only for a user; for root, whom
 * permissions do not stop, immutable (`chattr +i`), as an operator may find it.
 */
function lockDirectory(dir: string): { unlock(): void } {
  let lock: { unlock(): void };
  if (process.getuid?.() !== 0) {
    chmodSync(dir, 0o555);
    lock = { unlock: () => chmodSync(dir, 0o755) };
  } else {
    const locked = spawnSync("chattr", ["+i", dir], { encoding: "utf8" });
    expect(locked.status, `chattr +i ${dir} must work for this test: ${locked.stderr}`).toBe(0);
    lock = { unlock: () => void spawnSync("chattr", ["-i", dir]) };
  }
  locks.push(lock);
  return lock;
}
