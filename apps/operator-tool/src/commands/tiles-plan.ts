import type { TilePlanSummary, ZoomPlanSummary } from "@operator-tool/cache-build";
import type { CommandResult } from "../command-result.js";
import type { CommandContext } from "../context.js";
import { type FlightSelector, flightSourceFrom, resolveFlight } from "../resolve-flight.js";
import { planFlightTiles, summarizeTileJob, tileSettingsFrom } from "../tile-job.js";
import { formatBytes } from "../units.js";

export async function tilesPlan(ctx: CommandContext, selector: FlightSelector): Promise<CommandResult> {
  const source = await flightSourceFrom(ctx, selector);
  const settings = await tileSettingsFrom(ctx);
  const flight = await resolveFlight(ctx, source);
  const data = await summarizeTileJob(await planFlightTiles(settings, flight, ctx));
  return { data, text: renderPlan(data) };
}

function renderPlan(data: TilePlanSummary): string {
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
