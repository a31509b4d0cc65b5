import { type DownloadResult, downloadTiles, tileKey } from "@operator-tool/tile-downloader";
import type { CommandResult } from "../command-result.js";
import type { CommandContext } from "../context.js";
import { createProgressReporter } from "../progress.js";
import { type FlightSelector, resolveFlight } from "../resolve-flight.js";
import { prepareTileJob, type TileJob } from "../tile-job.js";
import { userAgent } from "../version.js";
import { formatBytes } from "./tiles-plan.js";

export interface TilesDownloadOptions extends FlightSelector {
  allowAbsent?: boolean;
  retryAbsent?: boolean;
}

export interface TileDownloadData extends DownloadResult {
  flightId: string;
  provider: string;
  cacheDir: string;
}

/** Phase 2 of build-cache, also run on its own by `tiles download`. */
export async function runTileDownload(
  ctx: CommandContext,
  job: TileJob,
  options: TilesDownloadOptions,
): Promise<TileDownloadData> {
  const progress = createProgressReporter(ctx, "tiles");
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
      maxRequestsPerSecond: ctx.option("maxRps"),
      blankTileSha256: ctx.option("blankTileSha256"),
      retryAbsent: options.retryAbsent === true,
      signal: ctx.signal,
      logger: ctx.logger,
      onProgress: (p) => progress.update(p),
    });
    return { ...result, flightId: job.flight.id, provider: job.provider.id, cacheDir: job.providerCacheDir };
  } finally {
    progress.finish();
  }
}

/** Why this download fails the command, or undefined when it succeeded. */
export function downloadFailure(result: DownloadResult, allowAbsent: boolean): string | undefined {
  const { counts } = result;
  if (result.outcome === "aborted") {
    const hint = result.abortReason?.includes("API key")
      ? "check OPERATOR_TOOL_API_KEY / --api-key-file"
      : "re-run later to resume; finished tiles are kept";
    return `tile download stopped: ${result.abortReason} — ${hint}`;
  }
  if (result.outcome === "incomplete") {
    const first = result.failedTiles[0];
    return `tile download incomplete: ${counts.failed} of ${counts.planned} tiles failed${
      first ? ` (first: ${tileKey(first)} ${first.error})` : ""
    } — re-run to resume; --json lists every failed tile`;
  }
  if (counts.absent > 0 && !allowAbsent) {
    return `${counts.absent} of ${counts.planned} tiles are absent at the provider (404/204) — pass --allow-absent to accept them, or narrow --zoom`;
  }
  return undefined;
}

export async function tilesDownload(
  ctx: CommandContext,
  options: TilesDownloadOptions,
): Promise<CommandResult> {
  const flight = await resolveFlight(ctx, options);
  const job = await prepareTileJob(ctx, flight);
  const data = await runTileDownload(ctx, job, options);
  const failure = downloadFailure(data, options.allowAbsent === true);
  return {
    exitCode: failure === undefined ? 0 : 20,
    data,
    text: renderDownload(data),
    ...(failure === undefined ? {} : { errorLine: failure }),
  };
}

function renderDownload(d: TileDownloadData): string {
  const c = d.counts;
  const rate = d.durationMs > 0 ? ((c.fetched * 1000) / d.durationMs).toFixed(0) : "-";
  return [
    `Flight ${d.flightId}, provider ${d.provider}: ${d.outcome}`,
    `  fetched ${c.fetched}  cached ${c.cached}  absent ${c.absent}  failed ${c.failed}  of ${c.planned}`,
    `  ${formatBytes(d.bytesFetched)} in ${(d.durationMs / 1000).toFixed(1)} s (${rate} tiles/s, ${d.requests} requests${
      d.rateLimitedMs > 0 ? `, ${(d.rateLimitedMs / 1000).toFixed(1)} s paused by rate limits` : ""
    })`,
    `  cache ${d.cacheDir}`,
    ...(d.tilesetPath ? [`  tileset ${d.tilesetPath}`] : []),
    ...d.failedTiles.slice(0, 5).map((t) => `  failed ${tileKey(t)}: ${t.error}`),
  ].join("\n");
}
