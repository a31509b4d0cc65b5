import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { TileJobRef, TilePlanSummary } from "@operator-tool/cache-build";
import { InvalidArgumentError } from "@operator-tool/errors";
import type { Flight, FlightBounds } from "@operator-tool/flights-api";
import type { DownloadResult, TilePlan, TileProvider } from "@operator-tool/tile-downloader";
import { parseAgeSeconds } from "./config/age.js";
import { ZOOM_RANGE_PATTERN } from "./config/zoom-range.js";
import type { CommandContext, RunScope } from "./context.js";
import type { TileProgress } from "./live-view.js";
import { createProgressReporter } from "./progress.js";
import { userAgent } from "./version.js";

/** The tile options, checked: zooms parsed, the provider's template and key verified. */
export interface TileSettings {
  zooms: number[];
  provider: TileProvider;
  coverage: "corridor" | "bbox";
  bufferM: number;
  maxTiles: number;
  stagingRoot: string;
  /** `<staging-root>/tiles/<provider>`: this provider's tile cache. */
  providerCacheDir: string;
}

export async function tileSettingsFrom(ctx: CommandContext): Promise<TileSettings> {
  const zooms = parseZoomRange(ctx.option("zoom"));
  const urlTemplate = ctx.requireOption("satelliteProviderUrl");
  const { defineProvider } = await import("@operator-tool/tile-downloader");
  const provider = defineProvider({
    urlTemplate,
    apiKey: ctx.secrets.apiKey,
    id: ctx.option("satelliteProviderId"),
    subdomains: ctx.option("satelliteProviderSubdomains"),
  });
  const stagingRoot = ctx.option("stagingRoot");
  return {
    zooms,
    provider,
    coverage: ctx.option("coverage"),
    bufferM: ctx.option("bboxBufferM"),
    maxTiles: ctx.option("maxTiles"),
    stagingRoot,
    providerCacheDir: join(stagingRoot, "tiles", provider.id),
  };
}

/** Everything the tile phases need for one flight, derived once from the settings and the flight. */
export interface TileJob extends TileJobRef {
  flight: Flight;
  bounds: FlightBounds;
  zooms: number[];
  plan: TilePlan;
  provider: TileProvider;
}

export async function planFlightTiles(
  settings: TileSettings,
  flight: Flight,
  run: RunScope,
): Promise<TileJob> {
  const [{ flightBounds }, { planTiles, tilesetPathFor }] = await Promise.all([
    import("@operator-tool/flights-api"),
    import("@operator-tool/tile-downloader"),
  ]);
  const path = [flight.takeoff, ...flight.waypoints];
  const bounds = flightBounds(path, settings.bufferM);
  for (const edge of bounds.clampedEdges) {
    run.logger.warn(
      { edge },
      `the flight's ${edge} edge is beyond Web-Mercator's ±85.05°: no tiles exist there`,
    );
  }
  const plan = planTiles({
    path,
    bbox: bounds,
    zooms: settings.zooms,
    coverage: settings.coverage,
    bufferM: settings.bufferM,
    maxTiles: settings.maxTiles,
  });
  return {
    flight,
    bounds,
    zooms: settings.zooms,
    plan,
    provider: settings.provider,
    providerId: settings.provider.id,
    providerCacheDir: settings.providerCacheDir,
    tilesetPath: tilesetPathFor(settings.providerCacheDir, flight.id),
  };
}

/** Per zoom: planned, cached, known absent, to fetch (reads the cache; no network). */
export async function summarizeTileJob(job: TileJob): Promise<TilePlanSummary> {
  const [{ readTileset, scanTileCache, tileKey }, { summarizeTilePlan }] = await Promise.all([
    import("@operator-tool/tile-downloader"),
    import("@operator-tool/cache-build"),
  ]);
  const all = job.plan.zooms.flatMap((zp) => zp.tiles);
  const [cached, previous] = await Promise.all([
    scanTileCache(job.providerCacheDir, all),
    readTileset(job.tilesetPath),
  ]);
  return summarizeTilePlan({
    flightId: job.flight.id,
    provider: job.provider.id,
    coverage: job.plan.coverage,
    bufferM: job.bounds.bufferM,
    cacheDir: job.providerCacheDir,
    zooms: job.plan.zooms,
    cached,
    absent: new Set(previous?.absent.map(tileKey) ?? []),
  });
}

export interface TileDownloadData extends DownloadResult {
  flightId: string;
  provider: string;
  cacheDir: string;
}

/** Phase 2 of build-cache, also run on its own by `tiles download`. */
export async function downloadJobTiles(
  ctx: CommandContext,
  job: TileJob,
  options: { retryAbsent: boolean; onProgress?: (progress: TileProgress) => void },
  run: RunScope = ctx,
): Promise<TileDownloadData> {
  const { downloadTiles } = await import("@operator-tool/tile-downloader");
  // build-cache draws tiles in its own view; `tiles download` alone gets one of its own.
  const own = options.onProgress === undefined ? createProgressReporter(ctx, run.logger) : undefined;
  const onProgress = options.onProgress ?? ((p: TileProgress) => own?.update(p));
  try {
    const result = await downloadTiles({
      tiles: job.plan.zooms.flatMap((zp) => zp.tiles),
      provider: job.provider,
      providerCacheDir: job.providerCacheDir,
      tileset: {
        path: job.tilesetPath,
        flightId: job.flight.id,
        coverage: job.plan.coverage,
        zooms: job.zooms,
        bufferM: job.bounds.bufferM,
      },
      userAgent: ctx.option("userAgent") ?? userAgent(),
      concurrency: ctx.option("concurrency"),
      maxConnections: ctx.option("maxConnections"),
      ca: await readCaFile(ctx.option("caFile")),
      maxAgeMs: maxAgeMs(ctx.option("maxAge")),
      maxRequestsPerSecond: ctx.option("maxRps"),
      blankTileSha256: ctx.option("blankTileSha256"),
      retryAbsent: options.retryAbsent,
      signal: run.signal,
      logger: run.logger,
      onProgress,
    });
    return { ...result, flightId: job.flight.id, provider: job.provider.id, cacheDir: job.providerCacheDir };
  } finally {
    own?.finish();
  }
}

/** `--max-age` arrives in seconds from the command line, and as seconds or `30d`-style text from a config file. */
function maxAgeMs(value: number | string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = typeof value === "number" ? value : parseAgeSeconds(value);
  return seconds === undefined ? undefined : seconds * 1000;
}

/** The `--ca-file` PEM, checked to hold a certificate, so a wrong path fails before any request. */
async function readCaFile(path: string | undefined): Promise<string | undefined> {
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = await readFile(resolve(path), "utf8");
  } catch (error) {
    throw new InvalidArgumentError(
      `--ca-file ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`,
      { hint: "give the PEM file of the CA that signed the provider's certificate", cause: error },
    );
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----"))
    throw new InvalidArgumentError(`--ca-file ${path} holds no PEM certificate`, {
      hint: "give a PEM file (-----BEGIN CERTIFICATE-----), e.g. converted with openssl x509 -inform der",
    });
  return text;
}

export function parseZoomRange(text: string): number[] {
  const match = ZOOM_RANGE_PATTERN.exec(text.trim());
  const min = Number(match?.[1]);
  const max = match?.[2] === undefined ? min : Number(match[2]);
  if (match === null || min > max || max > 22) {
    throw new InvalidArgumentError(`--zoom "${text}" is not a zoom range`, {
      hint: "give MIN-MAX with 0 <= MIN <= MAX <= 22, e.g. 16-18",
    });
  }
  return Array.from({ length: max - min + 1 }, (_, i) => min + i);
}
