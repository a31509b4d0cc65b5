import { setMaxListeners } from "node:events";
import { mkdir, unlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import {
  type Durability,
  PipelinedAtomicWriter,
  sha256OfFile,
  tempPathFor,
} from "@operator-tool/atomic-file";
import { cacheWriteError } from "./errors.js";
import { forEachLimited } from "./for-each-limited.js";
import type { TileImageFormat } from "./image-check.js";
import type { TileProvider } from "./provider.js";
import {
  readTileset,
  scanTileCache,
  TILESET_SCHEMA,
  type Tileset,
  type TilesetEntry,
  tileRelativePath,
  writeTileset,
} from "./tile-cache.js";
import { TileFetcher, type TileValidators } from "./tile-fetcher.js";
import { type TileCoord, tileKey } from "./tile-math.js";
import { openTileTransport, type TileTransport } from "./tile-transport.js";

/** The few logger methods used here; a pino logger fits. */
export interface DownloaderLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface DownloadTilesOptions {
  tiles: readonly TileCoord[];
  provider: TileProvider;
  /** `<staging-root>/tiles/<provider-id>` */
  providerCacheDir: string;
  tileset: { path: string; flightId: string; coverage: string; zooms: number[]; bufferM: number };
  userAgent: string;
  /** Requests in flight at most, over however many connections `maxConnections` allows. */
  concurrency?: number;
  /** Connections per provider host at most (see `TileTransportOptions.maxConnections`). */
  maxConnections?: number;
  /** PEM of a private CA the provider's certificate chains to, trusted besides the system's. */
  ca?: string;
  /** Requests per second per host; 0 for no cap. */
  maxRequestsPerSecond?: number;
  /** Attempts per tile for transient failures (5xx, resets, timeouts, bad bodies). */
  maxAttempts?: number;
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  requestTimeoutMs?: number;
  /** Total time all workers may spend paused on 429s before the run gives up. */
  maxRateLimitWaitMs?: number;
  /** Consecutive failures on one host that open its circuit breaker. */
  breakerThreshold?: number;
  breakerCooldownMs?: number;
  /** Times a breaker may open before the run stops using that host. */
  breakerMaxTrips?: number;
  /** Digests of the provider's "no imagery here" placeholder tiles: recorded as absent. */
  blankTileSha256?: readonly string[];
  /**
   * Cached tiles fetched (or last confirmed) longer ago than this are asked
   * again: conditionally when the provider gave validators (a 304 only renews
   * their age), else in full. Undefined: a cached tile is never asked again.
   */
  maxAgeMs?: number;
  /** Ignore tiles recorded as absent by a previous run and ask again. */
  retryAbsent?: boolean;
  /** How each tile reaches the disk before it is renamed into place; the default suits a cache. */
  durability?: Durability;
  signal?: AbortSignal;
  logger?: DownloaderLogger;
  onProgress?: (progress: DownloadProgress) => void;
}

export interface DownloadCounts {
  planned: number;
  fetched: number;
  cached: number;
  absent: number;
  failed: number;
}

export interface DownloadProgress extends DownloadCounts {
  done: number;
  bytesFetched: number;
  startedAt: number;
}

export interface FailedTile extends TileCoord {
  error: string;
}

export interface DownloadResult {
  /** `complete`: every tile present or recorded absent; `incomplete`: some failed; `aborted`: stopped early. */
  outcome: "complete" | "incomplete" | "aborted";
  abortReason: string | undefined;
  counts: DownloadCounts;
  bytesFetched: number;
  requests: number;
  rateLimitedMs: number;
  durationMs: number;
  /** The first failures, each with its last error (bounded; `counts.failed` has the total). */
  failedTiles: FailedTile[];
  absentTiles: TileCoord[];
  /** Written only when the outcome is `complete`. */
  tilesetPath: string | undefined;
  tilesetWritten: boolean;
  /** Cached tiles past `maxAgeMs`: asked again, and how that ended (a tile kept after a failure counts as kept). */
  revalidation: { due: number; notModified: number; replaced: number; kept: number };
  /** The protocol each provider origin was reached with ("h2" or "http/1.1"); empty when nothing was fetched. */
  protocols: Record<string, string>;
}

const DEFAULTS = {
  concurrency: 8,
  maxRequestsPerSecond: 0,
  maxAttempts: 5,
  retryBaseDelayMs: 250,
  retryMaxDelayMs: 8_000,
  requestTimeoutMs: 30_000,
  maxRateLimitWaitMs: 300_000,
  breakerThreshold: 25,
  breakerCooldownMs: 5_000,
  breakerMaxTrips: 3,
};
const MAX_FAILED_LISTED = 1_000;

/**
 * Brings the cache to hold every planned tile, fetching only what is missing.
 * Every fetched body is checked (an image, whole) and renamed into place, so a
 * kill at any instant leaves only complete tiles behind; the next run resumes.
 * Throws `TileDownloadError` when the staging root cannot be written (before
 * any request, or as soon as a write shows it).
 */
export async function downloadTiles(options: DownloadTilesOptions): Promise<DownloadResult> {
  const settings = { ...DEFAULTS, ...definedOnly(options) };
  const startedAt = Date.now();
  const { providerCacheDir, logger } = options;
  const previous = await readTileset(options.tileset.path);
  const work = await sortTiles(options, previous, Date.now());
  const tally = new DownloadTally(
    options.tiles.length,
    work.cached,
    work.absent,
    startedAt,
    options.onProgress,
  );
  logger?.info(
    {
      planned: options.tiles.length,
      cached: work.cached.size,
      absentKnown: work.absent.length,
      toFetch: work.toFetch.length,
      toRevalidate: work.stale.length,
      provider: options.provider.id,
    },
    work.toFetch.length + work.stale.length === 0
      ? "every tile is already cached"
      : `fetching ${work.toFetch.length} tiles, revalidating ${work.stale.length}`,
  );
  // Before the first request: a staging root that cannot take a tile fails now, not after the downloads.
  if (work.toFetch.length + work.stale.length > 0) await checkWritable(providerCacheDir);

  const stop = new AbortController();
  setMaxListeners(0, stop.signal); // one listener per in-flight request
  const onOuterAbort = () => stop.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", onOuterAbort, { once: true });
  let abortReason: string | undefined;
  let writeFailure: Error | undefined;
  const abort = (reason: string) => {
    if (abortReason === undefined) {
      abortReason = reason;
      logger?.warn({ reason }, "tile download stopped");
    }
    stop.abort(new Error(reason));
  };

  const { fetcher, transport, close: closeFetcher } = await openFetcher(options, settings);
  const writer = new PipelinedAtomicWriter(
    options.durability === undefined ? {} : { durability: options.durability },
  );
  const createdDirs = new Set<string>();

  /** Hands the tile to the writer; it counts as fetched once it is durable at its final name. */
  const store = async (
    tile: TileCoord,
    body: Buffer,
    ext: TileImageFormat,
    validators: TileValidators,
    replacing: TilesetEntry | undefined,
  ) => {
    const path = tileRelativePath(tile, ext);
    const file = join(providerCacheDir, path);
    const dir = dirname(file);
    if (!createdDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      createdDirs.add(dir);
    }
    const bytes = body.length; // the body's memory moves to the writer thread
    await writer.write(
      file,
      body,
      (error, committed) => {
        if (committed !== undefined) {
          tally.fetched({
            ...tile,
            path,
            bytes,
            sha256: committed.sha256,
            ...definedOnly(validators),
            fetchedAt: new Date().toISOString(),
          });
          if (replacing !== undefined) {
            revalidation.replaced++;
            // The provider changed the format: the old file would shadow nothing but still take space.
            if (replacing.path !== path)
              unlink(join(providerCacheDir, replacing.path)).catch(() => undefined);
          }
          return;
        }
        const operatorFixable = cacheWriteError(error, file);
        if (operatorFixable !== undefined) {
          // Every other tile would fail the same way: stop now, with the one line that says why.
          writeFailure ??= operatorFixable;
          stop.abort(operatorFixable);
        }
        tally.failed(tile, `cannot write to the cache: ${error?.message}`, logger);
      },
      { transfer: true },
    );
  };

  const revalidation = { due: work.stale.length, notModified: 0, replaced: 0, kept: 0 };
  /** A stale tile the provider could not confirm or replace: the cached copy stays, with its old age. */
  const keep = (entry: TilesetEntry, why: string) => {
    revalidation.kept++;
    tally.cached(entry);
    logger?.debug({ tile: tileKey(entry), why }, "kept the cached tile");
  };
  const queue: { tile: TileCoord; stale?: TilesetEntry }[] = [
    ...work.stale.map((entry) => ({ tile: entry as TileCoord, stale: entry })),
    ...work.toFetch.map((tile) => ({ tile })),
  ];

  try {
    await forEachLimited(
      queue,
      settings.concurrency,
      async ({ tile, stale }) => {
        const result = await fetcher.fetch(tile, stop.signal, stale);
        switch (result.kind) {
          case "fetched":
            await store(tile, result.body, result.ext, result.validators, stale);
            break;
          case "not-modified":
            revalidation.notModified++;
            tally.cached({
              ...stale!,
              ...definedOnly(result.validators),
              fetchedAt: new Date().toISOString(),
            });
            break;
          case "absent":
            if (stale !== undefined) keep(stale, "the provider no longer has it");
            else tally.absent(tile);
            break;
          case "failed":
            if (stale !== undefined) keep(stale, result.error);
            else tally.failed(tile, result.error, logger);
            break;
          case "stop":
            abort(result.reason);
            if (stale !== undefined) keep(stale, result.error);
            else tally.failed(tile, result.error, logger);
            break;
          case "interrupted":
            break;
        }
        tally.progress();
      },
      stop.signal,
    );
  } catch (error) {
    writeFailure ??= cacheWriteError(error, providerCacheDir);
    if (writeFailure === undefined) throw error;
  } finally {
    await writer.close();
    tally.progress(true);
    options.signal?.removeEventListener("abort", onOuterAbort);
    await closeFetcher();
  }
  if (writeFailure !== undefined) throw writeFailure;
  options.signal?.throwIfAborted();

  const { counts } = tally;
  const outcome = abortReason !== undefined ? "aborted" : counts.failed > 0 ? "incomplete" : "complete";
  const tilesetWritten =
    outcome === "complete" && (await saveTileset(options, previous, tally.entries, tally.absentTiles));
  return {
    outcome,
    abortReason,
    counts,
    bytesFetched: tally.bytesFetched,
    requests: fetcher.requests,
    rateLimitedMs: fetcher.rateLimitedMs,
    durationMs: Date.now() - startedAt,
    failedTiles: tally.failedTiles,
    absentTiles: tally.absentTiles.sort(compareTiles),
    tilesetPath: outcome === "complete" ? options.tileset.path : undefined,
    tilesetWritten,
    revalidation,
    protocols: Object.fromEntries(transport.protocols),
  };
}

/** The HTTP client and the retrying fetcher on it; `close` ends the client's connections. */
async function openFetcher(
  options: DownloadTilesOptions,
  settings: typeof DEFAULTS,
): Promise<{ fetcher: TileFetcher; transport: TileTransport; close: () => Promise<void> }> {
  const transport = await openTileTransport({
    concurrency: settings.concurrency,
    maxConnections: options.maxConnections,
    requestTimeoutMs: settings.requestTimeoutMs,
    ca: options.ca,
  });
  const headers = {
    "user-agent": options.userAgent,
    accept: "image/png,image/jpeg,image/webp,image/*;q=0.8",
  };
  const { logger } = options;
  const fetcher = new TileFetcher(
    transport,
    options.provider,
    headers,
    settings,
    options.blankTileSha256 ?? [],
    {
      rateLimited: (host, retryAfterMs) =>
        logger?.warn({ host, retryAfterMs }, "provider rate limit (HTTP 429): pausing all requests"),
      hostPaused: (host, consecutiveFailures, pauseMs) =>
        logger?.warn({ host, consecutiveFailures, pauseMs }, "host keeps failing: pausing it"),
    },
  );
  return { fetcher, transport, close: () => transport.close() };
}

/**
 * Writes the flight's tileset when it differs from the one on disk (so a no-op
 * run leaves the file, and its mtime, alone); true when written.
 */
async function saveTileset(
  options: DownloadTilesOptions,
  previous: Tileset | undefined,
  entries: Map<string, TilesetEntry>,
  absent: TileCoord[],
): Promise<boolean> {
  const tileset: Tileset = {
    schema: TILESET_SCHEMA,
    flightId: options.tileset.flightId,
    providerId: options.provider.id,
    urlTemplate: options.provider.urlTemplate,
    coverage: options.tileset.coverage,
    zooms: options.tileset.zooms,
    bufferM: options.tileset.bufferM,
    createdAt: new Date().toISOString(),
    tiles: [...entries.values()].sort(compareTiles),
    absent: [...absent].sort(compareTiles),
  };
  if (previous !== undefined && sameTileset(previous, tileset)) return false;
  try {
    await mkdir(dirname(options.tileset.path), { recursive: true });
    await writeTileset(options.tileset.path, tileset);
  } catch (error) {
    throw cacheWriteError(error, options.tileset.path) ?? error;
  }
  return true;
}

interface SortedTiles {
  /** In the cache and current, by tile key, with digests (from the previous tileset, or hashed now). */
  cached: Map<string, TilesetEntry>;
  /** In the cache but older than `maxAgeMs`: to ask again, with their validators. */
  stale: TilesetEntry[];
  /** Recorded absent by a previous run and not to be asked again. */
  absent: TileCoord[];
  toFetch: TileCoord[];
}

/** Which planned tiles are cached, known absent, or to fetch. */
async function sortTiles(
  options: DownloadTilesOptions,
  previous: Tileset | undefined,
  now: number,
): Promise<SortedTiles> {
  const { providerCacheDir } = options;
  const previousByPath = new Map(previous?.tiles.map((t) => [t.path, t]) ?? []);
  const previousAbsent = new Set(options.retryAbsent ? [] : (previous?.absent.map(tileKey) ?? []));
  let found: Awaited<ReturnType<typeof scanTileCache>>;
  try {
    found = await scanTileCache(providerCacheDir, options.tiles);
  } catch (error) {
    // Sweeping a dead run's temp files can fail the same ways a write can.
    throw cacheWriteError(error, providerCacheDir) ?? error;
  }
  const sorted: SortedTiles = { cached: new Map(), stale: [], absent: [], toFetch: [] };
  const toHash: TilesetEntry[] = [];
  for (const tile of options.tiles) {
    const key = tileKey(tile);
    const hit = found.get(key);
    if (hit !== undefined) {
      const path = tileRelativePath(tile, hit.ext);
      const recorded = previousByPath.get(path);
      // What the tileset says about this file holds only while the file is the one it described.
      const known = recorded?.bytes === hit.bytes ? recorded : undefined;
      const entry: TilesetEntry = {
        ...tile,
        path,
        bytes: hit.bytes,
        sha256: known?.sha256 ?? "",
        ...(known?.etag === undefined ? {} : { etag: known.etag }),
        ...(known?.lastModified === undefined ? {} : { lastModified: known.lastModified }),
        fetchedAt: known?.fetchedAt ?? new Date(hit.mtimeMs).toISOString(),
      };
      const age = now - Date.parse(entry.fetchedAt!);
      if (options.maxAgeMs !== undefined && !(age <= options.maxAgeMs)) sorted.stale.push(entry);
      else sorted.cached.set(key, entry);
      if (entry.sha256 === "") toHash.push(entry);
    } else if (previousAbsent.has(key)) {
      sorted.absent.push(tile);
    } else {
      sorted.toFetch.push(tile);
    }
  }
  await forEachLimited(toHash, 16, async (entry) => {
    entry.sha256 = await sha256OfFile(join(providerCacheDir, entry.path));
  });
  return sorted;
}

/** Creates the cache directory and a file in it, then removes the file: the writes to come will work. */
async function checkWritable(dir: string): Promise<void> {
  const probe = tempPathFor(join(dir, "write-check"));
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(probe, "", { flag: "wx" });
    await unlink(probe);
  } catch (error) {
    throw cacheWriteError(error, dir) ?? error;
  }
}

/** The counts, the tileset entries and the failures, as tiles settle; progress reports from them. */
class DownloadTally {
  readonly counts: DownloadCounts;
  readonly entries: Map<string, TilesetEntry>;
  readonly absentTiles: TileCoord[];
  readonly failedTiles: FailedTile[] = [];
  bytesFetched = 0;
  #lastProgressAt = 0;

  constructor(
    planned: number,
    cached: Map<string, TilesetEntry>,
    absent: TileCoord[],
    private readonly startedAt: number,
    private readonly onProgress: ((progress: DownloadProgress) => void) | undefined,
  ) {
    this.entries = cached;
    this.absentTiles = absent;
    this.counts = { planned, fetched: 0, cached: cached.size, absent: absent.length, failed: 0 };
    this.progress(true);
  }

  /** A stale tile confirmed current, or kept: it counts as cached. */
  cached(entry: TilesetEntry): void {
    this.entries.set(tileKey(entry), entry);
    this.counts.cached++;
  }

  fetched(entry: TilesetEntry): void {
    this.entries.set(tileKey(entry), entry);
    this.counts.fetched++;
    this.bytesFetched += entry.bytes;
    this.progress();
  }

  absent(tile: TileCoord): void {
    this.counts.absent++;
    this.absentTiles.push(tile);
  }

  failed(tile: TileCoord, error: string, logger: DownloaderLogger | undefined): void {
    this.counts.failed++;
    if (this.failedTiles.length < MAX_FAILED_LISTED) this.failedTiles.push({ ...tile, error });
    logger?.debug({ tile: tileKey(tile), error }, "tile failed");
  }

  /** Progress is for humans and logs: a few updates a second is plenty, unless `now` says otherwise. */
  progress(now = false): void {
    if (this.onProgress === undefined) return;
    const at = Date.now();
    if (!now && at - this.#lastProgressAt < 100) return;
    this.#lastProgressAt = at;
    const { fetched, cached, absent, failed } = this.counts;
    this.onProgress({
      ...this.counts,
      done: fetched + cached + absent + failed,
      bytesFetched: this.bytesFetched,
      startedAt: this.startedAt,
    });
  }
}

function compareTiles(a: TileCoord, b: TileCoord): number {
  return a.z - b.z || a.x - b.x || a.y - b.y;
}

function sameTileset(a: Tileset, b: Tileset): boolean {
  const strip = ({ createdAt: _, ...rest }: Tileset) => JSON.stringify(rest);
  return strip(a) === strip(b);
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
