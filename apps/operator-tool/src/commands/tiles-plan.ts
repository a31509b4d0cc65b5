import { readTileset, scanTileCache, tileKey } from "@operator-tool/tile-downloader";
import type { CommandResult } from "../command-result.js";
import type { CommandContext } from "../context.js";
import { type FlightSelector, resolveFlight } from "../resolve-flight.js";
import { prepareTileJob, type TileJob } from "../tile-job.js";

/** Used for the estimate when nothing of this provider is cached yet: a typical satellite JPEG. */
const DEFAULT_TILE_BYTES = 25_000;

export interface ZoomPlanSummary {
  z: number;
  tiles: number;
  cached: number;
  /** Recorded as absent at the provider by an earlier run: not asked for again. */
  absent: number;
  toFetch: number;
  bytesEstimate: number;
}

export interface TilesPlanData {
  flightId: string;
  provider: string;
  coverage: string;
  bufferM: number;
  cacheDir: string;
  zooms: ZoomPlanSummary[];
  total: Omit<ZoomPlanSummary, "z">;
}

export async function summarizePlan(job: TileJob): Promise<TilesPlanData> {
  const all = job.plan.zooms.flatMap((zp) => zp.tiles);
  const [cached, previous] = await Promise.all([
    scanTileCache(job.providerCacheDir, all),
    readTileset(job.tilesetPath),
  ]);
  const absentKeys = new Set(previous?.absent.map(tileKey) ?? []);
  const sizes = [...cached.values()].map((c) => c.bytes);
  const fallback = sizes.length > 0 ? sizes.reduce((a, b) => a + b, 0) / sizes.length : DEFAULT_TILE_BYTES;
  const zooms = job.plan.zooms.map(({ z, tiles }) => {
    let hit = 0;
    let hitBytes = 0;
    let absent = 0;
    for (const t of tiles) {
      const c = cached.get(tileKey(t));
      if (c !== undefined) {
        hit++;
        hitBytes += c.bytes;
      } else if (absentKeys.has(tileKey(t))) absent++;
    }
    const mean = hit > 0 ? hitBytes / hit : fallback;
    const toFetch = tiles.length - hit - absent;
    return {
      z,
      tiles: tiles.length,
      cached: hit,
      absent,
      toFetch,
      bytesEstimate: Math.round(toFetch * mean),
    };
  });
  const total = zooms.reduce(
    (sum, zp) => ({
      tiles: sum.tiles + zp.tiles,
      cached: sum.cached + zp.cached,
      absent: sum.absent + zp.absent,
      toFetch: sum.toFetch + zp.toFetch,
      bytesEstimate: sum.bytesEstimate + zp.bytesEstimate,
    }),
    { tiles: 0, cached: 0, absent: 0, toFetch: 0, bytesEstimate: 0 },
  );
  return {
    flightId: job.flight.id,
    provider: job.provider.id,
    coverage: job.plan.coverage,
    bufferM: job.bounds.bufferM,
    cacheDir: job.providerCacheDir,
    zooms,
    total,
  };
}

export async function tilesPlan(ctx: CommandContext, selector: FlightSelector): Promise<CommandResult> {
  const flight = await resolveFlight(ctx, selector);
  const data = await summarizePlan(await prepareTileJob(ctx, flight));
  return { exitCode: 0, data, text: renderPlan(data) };
}

export function renderPlan(data: TilesPlanData): string {
  const header = ["zoom", "tiles", "cached", "absent", "to fetch", "estimate"];
  const rows = data.zooms.map((z) => [String(z.z), ...counts(z)]);
  rows.push(["total", ...counts(data.total)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [
    `Flight ${data.flightId}: ${data.coverage} coverage, buffer ${data.bufferM} m, provider ${data.provider}`,
    `Cache  ${data.cacheDir}`,
    "",
    line(header),
    ...rows.map(line),
  ].join("\n");
}

function counts(z: Omit<ZoomPlanSummary, "z">): string[] {
  return [z.tiles, z.cached, z.absent, z.toFetch].map(String).concat(formatBytes(z.bytesEstimate));
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}
