import { describeFailure } from "@operator-tool/errors";
import type { CommandResult } from "../command-result.js";
import type { CommandContext } from "../context.js";
import { type FlightSelector, flightSourceFrom, resolveFlight } from "../resolve-flight.js";
import { downloadJobTiles, planFlightTiles, type TileDownloadData, tileSettingsFrom } from "../tile-job.js";
import { formatBytes } from "../units.js";

export interface TilesDownloadOptions extends FlightSelector {
  allowAbsent?: boolean;
  retryAbsent?: boolean;
}

export async function tilesDownload(
  ctx: CommandContext,
  options: TilesDownloadOptions,
): Promise<CommandResult> {
  const source = await flightSourceFrom(ctx, options);
  const settings = await tileSettingsFrom(ctx);
  const { checkStagingRoot, tileDownloadFailure } = await import("@operator-tool/cache-build");
  await checkStagingRoot(settings.stagingRoot, [settings.providerCacheDir]);

  const flight = await resolveFlight(ctx, source);
  const job = await planFlightTiles(settings, flight, ctx);
  const data = await downloadJobTiles(ctx, job, { retryAbsent: options.retryAbsent === true });

  const failure = tileDownloadFailure(data, options.allowAbsent === true);
  return {
    data,
    text: renderDownload(data),
    ...(failure === undefined ? {} : { failure: describeFailure(failure) }),
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
    ...d.failedTiles.slice(0, 5).map((t) => `  failed ${t.z}/${t.x}/${t.y}: ${t.error}`),
  ].join("\n");
}
