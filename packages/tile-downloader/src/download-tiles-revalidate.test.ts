import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, startTileServer, type TileServer } from "@operator-tool/test-helpers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type DownloadTilesOptions, downloadTiles } from "./download-tiles.js";
import { defineProvider } from "./provider.js";
import { readTileset, type Tileset } from "./tile-cache.js";
import type { TileCoord } from "./tile-math.js";

const DAY_MS = 86_400_000;
let temp: ReturnType<typeof makeTempDir>;
let server: TileServer | undefined;

beforeEach(() => {
  temp = makeTempDir();
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  temp.cleanup();
});

const tiles: TileCoord[] = [];
for (let x = 500; x < 504; x++) for (let y = 300; y < 303; y++) tiles.push({ z: 12, x, y });
const cacheDir = () => join(temp.path, "tiles", "reval");
const tilesetPath = () => join(cacheDir(), "tilesets", "F-1.json");
const cacheFile = (t: TileCoord) => join(cacheDir(), String(t.z), String(t.x), `${t.y}.png`);

function run(overrides: Partial<DownloadTilesOptions> = {}) {
  return downloadTiles({
    tiles,
    provider: defineProvider({ urlTemplate: server!.template, id: "reval" }),
    providerCacheDir: cacheDir(),
    tileset: { path: tilesetPath(), flightId: "F-1", coverage: "bbox", zooms: [12], bufferM: 0 },
    userAgent: "operator-tool/test",
    concurrency: 4,
    retryBaseDelayMs: 5,
    retryMaxDelayMs: 20,
    ...overrides,
  });
}

/** Makes every recorded tile `days` old, as if fetched back then. */
function ageTileset(days: number) {
  const tileset = JSON.parse(readFileSync(tilesetPath(), "utf8")) as Tileset;
  const then = new Date(Date.now() - days * DAY_MS).toISOString();
  for (const entry of tileset.tiles) entry.fetchedAt = then;
  writeFileSync(tilesetPath(), JSON.stringify(tileset));
}

const requestsWith = (header: string) => server!.requests.filter((r) => r.headers[header] !== undefined);

describe("revalidating cached tiles past --max-age", () => {
  it("records each tile's validators; a fresh tile is not asked again", async () => {
    server = await startTileServer({ validators: "both" });
    const first = await run({ maxAgeMs: DAY_MS });
    expect(first.outcome).toBe("complete");
    const entry = (await readTileset(tilesetPath()))!.tiles[0]!;
    expect(entry.etag).toBe('"12-500-300-r0"');
    expect(entry.lastModified).toBe("Thu, 01 Jan 2026 00:00:00 GMT");
    expect(Date.now() - Date.parse(entry.fetchedAt!)).toBeLessThan(60_000);
    const before = server.requests.length;
    const again = await run({ maxAgeMs: DAY_MS });
    expect(server.requests.length).toBe(before);
    expect(again.revalidation.due).toBe(0);
  });

  it("a 304 renews the tile's age without a body; the file is untouched", async () => {
    server = await startTileServer({ validators: "etag" });
    await run();
    ageTileset(2);
    const mtimes = tiles.map((t) => statSync(cacheFile(t)).mtimeMs);
    const result = await run({ maxAgeMs: DAY_MS });
    expect(result.outcome).toBe("complete");
    expect(result.revalidation).toEqual({ due: 12, notModified: 12, replaced: 0, kept: 0 });
    expect(result.counts).toMatchObject({ cached: 12, fetched: 0 });
    expect(requestsWith("if-none-match")).toHaveLength(12);
    expect([...server.served.values()].every((n) => n === 1)).toBe(true);
    expect(tiles.map((t) => statSync(cacheFile(t)).mtimeMs)).toEqual(mtimes);
    const renewed = (await readTileset(tilesetPath()))!.tiles;
    for (const entry of renewed) expect(Date.now() - Date.parse(entry.fetchedAt!)).toBeLessThan(60_000);
    // Renewed: the next run within max-age asks nothing.
    const before = server.requests.length;
    await run({ maxAgeMs: DAY_MS });
    expect(server.requests.length).toBe(before);
  });

  it("a changed tile is answered 200 and replaces the cached one whole, digest and validators updated", async () => {
    server = await startTileServer({ validators: "last-modified" });
    await run();
    ageTileset(2);
    server.replaceTile(12, 501, 301);
    const result = await run({ maxAgeMs: DAY_MS });
    expect(result.revalidation).toMatchObject({ due: 12, notModified: 11, replaced: 1 });
    expect(result.counts).toMatchObject({ planned: 12, cached: 11, fetched: 1, failed: 0 });
    expect(requestsWith("if-modified-since")).toHaveLength(12);
    const changed = { z: 12, x: 501, y: 301 };
    expect(readFileSync(cacheFile(changed))).toEqual(server.tileBody(12, 501, 301));
    const entry = (await readTileset(tilesetPath()))!.tiles.find((t) => t.x === 501 && t.y === 301)!;
    expect(entry.lastModified).toBe("Fri, 02 Jan 2026 00:00:00 GMT");
    expect(entry.sha256).toBe(
      (await import("node:crypto"))
        .createHash("sha256")
        .update(server.tileBody(12, 501, 301))
        .digest("hex"),
    );
    expect(readdirSync(join(cacheDir(), "12", "501")).sort()).toEqual(["300.png", "301.png", "302.png"]);
  });

  it("a provider without validators: nothing is asked before max-age, everything refetched after it", async () => {
    server = await startTileServer();
    await run();
    const again = await run({ maxAgeMs: DAY_MS });
    expect(again.requests).toBe(0);
    ageTileset(2);
    const result = await run({ maxAgeMs: DAY_MS });
    expect(result.revalidation).toMatchObject({ due: 12, replaced: 12 });
    expect(requestsWith("if-none-match")).toHaveLength(0);
    expect(requestsWith("if-modified-since")).toHaveLength(0);
    expect([...server.served.values()].every((n) => n === 2)).toBe(true);
  });

  it("without --max-age an old tile is never asked again; a failed revalidation keeps the cached copy", async () => {
    server = await startTileServer({ validators: "etag" });
    await run();
    ageTileset(400);
    const untouched = await run();
    expect(untouched.requests).toBe(0);
    await server.close();
    server = await startTileServer({ validators: "etag", fault: () => ({ status: 503 }) });
    const result = await run({ maxAgeMs: DAY_MS, maxAttempts: 2, breakerThreshold: 1_000 });
    expect(result.outcome).toBe("complete");
    expect(result.revalidation).toMatchObject({ due: 12, kept: 12 });
    expect(result.counts).toMatchObject({ cached: 12, failed: 0 });
  });
});
