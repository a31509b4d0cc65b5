import { createHash } from "node:crypto";
import { setMaxListeners } from "node:events";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { PipelinedAtomicWriter } from "@operator-tool/atomic-file";
import { backoffDelay, parseRetryAfter, sleep } from "@operator-tool/retry-policy";
import type { Dispatcher } from "undici";
import { detectImageFormat } from "./image-check.js";
import { type TileProvider, tileUrl } from "./provider.js";
import {
  forEachLimited,
  readTileset,
  scanTileCache,
  sha256File,
  TILESET_SCHEMA,
  type Tileset,
  type TilesetEntry,
  tileRelativePath,
  writeTileset,
} from "./tile-cache.js";
import { type TileCoord, tileKey } from "./tile-math.js";

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
  concurrency?: number;
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
  /** Ignore tiles recorded as absent by a previous run and ask again. */
  retryAbsent?: boolean;
  fsync?: boolean;
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
const MAX_TILE_BYTES = 16 * 1024 * 1024;
const MAX_FAILED_LISTED = 1_000;

type FetchOutcome =
  | { kind: "ok"; body: Buffer; ext: "png" | "jpg" | "webp" }
  | { kind: "absent"; reason: string }
  | { kind: "fatal"; reason: string }
  | { kind: "rate-limited"; retryAfterMs: number | undefined }
  | { kind: "transient"; reason: string }
  | { kind: "rejected"; reason: string };

/**
 * Brings the cache to hold every planned tile, fetching only what is missing.
 * Every fetched body is checked (an image, whole) and renamed into place, so a
 * kill at any instant leaves only complete tiles behind; the next run resumes.
 */
export async function downloadTiles(options: DownloadTilesOptions): Promise<DownloadResult> {
  const settings = { ...DEFAULTS, ...definedOnly(options) };
  const startedAt = Date.now();
  const { providerCacheDir, logger } = options;
  const previous = await readTileset(options.tileset.path);
  const previousByPath = new Map(previous?.tiles.map((t) => [t.path, t]) ?? []);
  const previousAbsent = new Set(options.retryAbsent ? [] : (previous?.absent.map(tileKey) ?? []));
  const blank = new Set(options.blankTileSha256 ?? []);

  const cached = await scanTileCache(providerCacheDir, options.tiles);
  const entries = new Map<string, TilesetEntry>();
  const toHash: TilesetEntry[] = [];
  const absent: TileCoord[] = [];
  const queue: TileCoord[] = [];
  for (const tile of options.tiles) {
    const key = tileKey(tile);
    const hit = cached.get(key);
    if (hit !== undefined) {
      const path = tileRelativePath(tile, hit.ext);
      const known = previousByPath.get(path);
      const entry = {
        ...tile,
        path,
        bytes: hit.bytes,
        sha256: known?.bytes === hit.bytes ? known.sha256 : "",
      };
      entries.set(key, entry);
      if (entry.sha256 === "") toHash.push(entry);
    } else if (previousAbsent.has(key)) {
      absent.push(tile);
    } else {
      queue.push(tile);
    }
  }
  await forEachLimited(toHash, 16, async (entry) => {
    entry.sha256 = await sha256File(join(providerCacheDir, entry.path));
  });

  const counts: DownloadCounts = {
    planned: options.tiles.length,
    fetched: 0,
    cached: entries.size,
    absent: absent.length,
    failed: 0,
  };
  const progress = () => ({
    ...counts,
    done: counts.fetched + counts.cached + counts.absent + counts.failed,
    bytesFetched,
    startedAt,
  });
  let lastProgressAt = 0;
  // Progress is for humans and logs: a few updates a second is plenty.
  const reportProgress = () => {
    const now = Date.now();
    if (options.onProgress === undefined || now - lastProgressAt < 100) return;
    lastProgressAt = now;
    options.onProgress(progress());
  };
  let bytesFetched = 0;
  let requests = 0;
  let rateLimitedMs = 0;
  let abortReason: string | undefined;
  const failedTiles: FailedTile[] = [];
  options.onProgress?.(progress());
  logger?.info(
    {
      planned: counts.planned,
      cached: counts.cached,
      absentKnown: counts.absent,
      toFetch: queue.length,
      provider: options.provider.id,
    },
    queue.length === 0 ? "every tile is already cached" : `fetching ${queue.length} tiles`,
  );

  const stop = new AbortController();
  setMaxListeners(0, stop.signal); // one listener per in-flight request
  const onOuterAbort = () => stop.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", onOuterAbort, { once: true });
  const abort = (reason: string) => {
    if (abortReason === undefined) {
      abortReason = reason;
      logger?.warn({ reason }, "tile download stopped");
    }
    stop.abort(new Error(reason));
  };

  const gate = new PauseGate();
  const hosts = new Map<string, HostState>();
  const hostState = (host: string) => {
    let state = hosts.get(host);
    if (state === undefined) {
      state = new HostState(settings.maxRequestsPerSecond);
      hosts.set(host, state);
    }
    return state;
  };

  const { Agent } = await import("undici");
  const userAgentHeaders = {
    "user-agent": options.userAgent,
    accept: "image/png,image/jpeg,image/webp,image/*;q=0.8",
  };
  const dispatcher = new Agent({
    connections: settings.concurrency,
    keepAliveTimeout: 10_000,
    headersTimeout: settings.requestTimeoutMs,
    bodyTimeout: settings.requestTimeoutMs,
    connect: { timeout: Math.min(settings.requestTimeoutMs, 10_000) },
  });
  const createdDirs = new Set<string>();
  const writer = new PipelinedAtomicWriter(options.fsync === false ? { durability: "none" } : {});

  async function fetchTile(url: string): Promise<FetchOutcome> {
    let response: TileResponse;
    try {
      response = await getTile(dispatcher, url, userAgentHeaders, stop.signal);
    } catch (error) {
      if (stop.signal.aborted) throw error;
      return { kind: "transient", reason: describeError(error) };
    }
    const { status, headers, body } = response;
    if (status !== 200) {
      if (status === 204 || status === 404 || status === 410)
        return { kind: "absent", reason: `HTTP ${status}` };
      if (status === 401 || status === 403) return { kind: "fatal", reason: `HTTP ${status}` };
      if (status === 429)
        return { kind: "rate-limited", retryAfterMs: parseRetryAfter(header(headers["retry-after"])) };
      if (status >= 500 || status === 408) return { kind: "transient", reason: `HTTP ${status}` };
      return { kind: "rejected", reason: `HTTP ${status}` };
    }
    if (body === undefined)
      return { kind: "transient", reason: `body larger than ${MAX_TILE_BYTES / 1024 / 1024} MiB` };
    const declared = Number(header(headers["content-length"]) ?? Number.NaN);
    if (Number.isFinite(declared) && declared !== body.length) {
      return { kind: "transient", reason: `truncated body (${body.length} of ${declared} bytes)` };
    }
    if (body.length === 0) return { kind: "transient", reason: "empty body" };
    const contentType = header(headers["content-type"]) ?? "";
    if (!contentType.toLowerCase().startsWith("image/")) {
      return { kind: "transient", reason: `content-type "${contentType || "none"}" is not an image` };
    }
    const ext = detectImageFormat(body);
    if (ext === undefined)
      return { kind: "transient", reason: `body is not a PNG, JPEG or WebP image (${contentType})` };
    if (blank.size > 0 && blank.has(sha256(body)))
      return { kind: "absent", reason: "blank placeholder tile" };
    return { kind: "ok", body, ext };
  }

  /** Hands the tile to the writer; counts it once it is safely in place. */
  async function store(tile: TileCoord, body: Buffer, ext: "png" | "jpg" | "webp"): Promise<void> {
    const path = tileRelativePath(tile, ext);
    const dir = join(providerCacheDir, String(tile.z), String(tile.x));
    if (!createdDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      createdDirs.add(dir);
    }
    const bytes = body.length; // the body's memory moves to the writer thread
    await writer.write(
      join(providerCacheDir, path),
      body,
      (error, committed) => {
        if (committed === undefined) {
          fail(tile, `cannot write to the cache: ${error?.message}`);
        } else {
          entries.set(tileKey(tile), { ...tile, path, bytes, sha256: committed.sha256 });
          counts.fetched++;
          bytesFetched += bytes;
        }
        reportProgress();
      },
      { transfer: true },
    );
  }

  function fail(tile: TileCoord, error: string) {
    counts.failed++;
    if (failedTiles.length < MAX_FAILED_LISTED) failedTiles.push({ ...tile, error });
    logger?.debug({ tile: tileKey(tile), error }, "tile failed");
  }

  async function processTile(tile: TileCoord): Promise<void> {
    const url = tileUrl(options.provider, tile);
    const host = new URL(url).host;
    const state = hostState(host);
    let attempt = 0;
    for (;;) {
      if (stop.signal.aborted) return;
      await gate.wait(stop.signal);
      await state.waitTurn(stop.signal);
      if (stop.signal.aborted) return;
      requests++;
      const outcome = await fetchTile(url);
      switch (outcome.kind) {
        case "ok":
          state.succeeded();
          await store(tile, outcome.body, outcome.ext);
          return;
        case "absent":
          state.succeeded();
          counts.absent++;
          absent.push(tile);
          return;
        case "fatal":
          abort(`the provider rejected the API key (${outcome.reason} for tile ${tileKey(tile)})`);
          fail(tile, outcome.reason);
          return;
        case "rejected":
          state.succeeded();
          fail(tile, outcome.reason);
          return;
        case "rate-limited": {
          const wait =
            outcome.retryAfterMs ??
            backoffDelay(settings.retryBaseDelayMs * 4, state.rateLimitStreak++, settings.retryMaxDelayMs);
          const added = gate.pauseFor(wait);
          rateLimitedMs += added;
          logger?.warn({ host, retryAfterMs: wait }, "provider rate limit (HTTP 429): pausing all requests");
          if (rateLimitedMs > settings.maxRateLimitWaitMs) {
            abort(
              `the provider kept rate-limiting (429) for more than ${Math.round(settings.maxRateLimitWaitMs / 1000)} s`,
            );
            fail(tile, "HTTP 429");
            return;
          }
          continue;
        }
        case "transient": {
          attempt++;
          const trip = state.failed(settings.breakerThreshold, settings.breakerCooldownMs);
          if (trip !== undefined) {
            logger?.warn(
              { host, consecutiveFailures: settings.breakerThreshold, pauseMs: trip },
              "host keeps failing: pausing it",
            );
            if (state.trips > settings.breakerMaxTrips) {
              abort(`${host} keeps failing (${outcome.reason}); stopped after ${state.trips} pauses`);
              fail(tile, outcome.reason);
              return;
            }
          }
          if (attempt >= settings.maxAttempts) {
            fail(tile, `${outcome.reason} (after ${attempt} attempts)`);
            return;
          }
          await sleep(
            backoffDelay(settings.retryBaseDelayMs, attempt - 1, settings.retryMaxDelayMs),
            stop.signal,
          );
          continue;
        }
      }
    }
  }

  try {
    let next = 0;
    const workers = Array.from({ length: Math.min(settings.concurrency, queue.length) }, async () => {
      while (next < queue.length && !stop.signal.aborted) {
        const tile = queue[next++]!;
        try {
          await processTile(tile);
        } catch (error) {
          if (!stop.signal.aborted) throw error;
        }
        reportProgress();
      }
    });
    await Promise.all(workers);
  } finally {
    await writer.close();
    options.onProgress?.(progress());
    options.signal?.removeEventListener("abort", onOuterAbort);
    await dispatcher.close().catch(() => undefined);
  }
  options.signal?.throwIfAborted();

  const outcome = abortReason !== undefined ? "aborted" : counts.failed > 0 ? "incomplete" : "complete";
  let tilesetWritten = false;
  if (outcome === "complete") {
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
      absent: absent.sort(compareTiles),
    };
    // Rewrite only on change, so a no-op run leaves the file (and its mtime) alone.
    if (previous === undefined || !sameTileset(previous, tileset)) {
      await mkdir(join(options.tileset.path, ".."), { recursive: true });
      await writeTileset(options.tileset.path, tileset);
      tilesetWritten = true;
    }
  }
  return {
    outcome,
    abortReason,
    counts,
    bytesFetched,
    requests,
    rateLimitedMs,
    durationMs: Date.now() - startedAt,
    failedTiles,
    absentTiles: absent,
    tilesetPath: outcome === "complete" ? options.tileset.path : undefined,
    tilesetWritten,
  };
}

interface TileResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Undefined when the body was over the size limit (the request was cut off). */
  body: Buffer | undefined;
}

/**
 * One GET through undici's dispatch API. The stream-based `request` costs a
 * Readable and an async iterator per call, which showed at thousands of tiles
 * per second; a tile is small and wanted whole anyway. The body lands in one
 * buffer of its own, so it can be handed to a writer thread without a copy.
 */
function getTile(
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

/** Per host: an optional requests-per-second cap and a circuit breaker. */
class HostState {
  #next = 0;
  #interval: number;
  #consecutiveFailures = 0;
  #openUntil = 0;
  trips = 0;
  rateLimitStreak = 0;

  constructor(maxRequestsPerSecond: number) {
    this.#interval = maxRequestsPerSecond > 0 ? 1000 / maxRequestsPerSecond : 0;
  }

  async waitTurn(signal: AbortSignal): Promise<void> {
    const now = Date.now();
    if (this.#openUntil > now) await sleep(this.#openUntil - now, signal);
    if (this.#interval === 0) return;
    const at = Math.max(Date.now(), this.#next);
    this.#next = at + this.#interval;
    if (at > Date.now()) await sleep(at - Date.now(), signal);
  }

  succeeded(): void {
    this.#consecutiveFailures = 0;
    this.rateLimitStreak = 0;
  }

  /** Returns the pause in ms when this failure opens the breaker. */
  failed(threshold: number, cooldownMs: number): number | undefined {
    this.#consecutiveFailures++;
    if (this.#consecutiveFailures < threshold) return undefined;
    this.#consecutiveFailures = 0;
    this.trips++;
    const pause = cooldownMs * 2 ** (this.trips - 1);
    this.#openUntil = Date.now() + pause;
    return pause;
  }
}

/** One pause shared by all workers: a 429 stops everyone, not just the worker that saw it. */
class PauseGate {
  #until = 0;

  pauseFor(ms: number): number {
    const until = Date.now() + ms;
    const added = Math.max(0, until - Math.max(this.#until, Date.now()));
    this.#until = Math.max(this.#until, until);
    return added;
  }

  async wait(signal: AbortSignal): Promise<void> {
    while (this.#until > Date.now() && !signal.aborted) await sleep(this.#until - Date.now(), signal);
  }
}

function compareTiles(a: TileCoord, b: TileCoord): number {
  return a.z - b.z || a.x - b.x || a.y - b.y;
}

function sameTileset(a: Tileset, b: Tileset): boolean {
  const strip = ({ createdAt: _, ...rest }: Tileset) => JSON.stringify(rest);
  return strip(a) === strip(b);
}

function sha256(body: Uint8Array): string {
  return createHash("sha256").update(body).digest("hex");
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function describeError(error: unknown): string {
  const code = (error as { code?: string }).code;
  switch (code) {
    case "ECONNRESET":
    case "UND_ERR_SOCKET":
      return "connection reset";
    case "ECONNREFUSED":
      return "connection refused";
    case "UND_ERR_HEADERS_TIMEOUT":
    case "UND_ERR_BODY_TIMEOUT":
    case "UND_ERR_CONNECT_TIMEOUT":
      return "timed out";
    case "UND_ERR_RES_CONTENT_LENGTH_MISMATCH":
      return "truncated body";
    default:
      return code ?? (error as Error).message;
  }
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
