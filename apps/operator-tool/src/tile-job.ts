import { join } from "node:path";
import { InvalidArgumentError } from "@operator-tool/errors";
import type { Flight, FlightBounds } from "@operator-tool/flights-api";
import type { TilePlan, TileProvider } from "@operator-tool/tile-downloader";
import { ZOOM_RANGE_PATTERN } from "./config/zoom-range.js";
import type { CommandContext } from "./context.js";

/** Everything the tile phases need for one flight, derived once from options and flight. */
export interface TileJob {
  flight: Flight;
  bounds: FlightBounds;
  zooms: number[];
  plan: TilePlan;
  provider: TileProvider;
  providerCacheDir: string;
  tilesetPath: string;
}

export async function prepareTileJob(ctx: CommandContext, flight: Flight): Promise<TileJob> {
  const [{ flightBounds }, { defineProvider, planTiles, tilesetPathFor }] = await Promise.all([
    import("@operator-tool/flights-api"),
    import("@operator-tool/tile-downloader"),
  ]);
  const bufferM = ctx.option("bboxBufferM");
  const zooms = parseZoomRange(ctx.option("zoom"));
  const provider = defineProvider({
    urlTemplate: ctx.requireOption("satelliteProviderUrl"),
    apiKey: ctx.secrets.apiKey,
    id: ctx.option("satelliteProviderId"),
    subdomains: ctx.option("satelliteProviderSubdomains"),
  });
  const path = [flight.takeoff, ...flight.waypoints];
  const bounds = flightBounds(path, bufferM);
  for (const edge of bounds.clampedEdges) {
    ctx.logger.warn(
      { edge },
      `the flight's ${edge} edge is beyond Web-Mercator's ±85.05°: no tiles exist there`,
    );
  }
  const plan = planTiles({
    path,
    bbox: bounds,
    zooms,
    coverage: ctx.option("coverage"),
    bufferM,
    maxTiles: ctx.option("maxTiles"),
  });
  const providerCacheDir = join(ctx.option("stagingRoot"), "tiles", provider.id);
  return {
    flight,
    bounds,
    zooms,
    plan,
    provider,
    providerCacheDir,
    tilesetPath: tilesetPathFor(providerCacheDir, flight.id),
  };
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
