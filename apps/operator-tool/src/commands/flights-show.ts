import { type Flight, type FlightBounds, flightBounds } from "@operator-tool/flights-api";
import type { CommandResult } from "../command-result.js";
import type { CommandContext } from "../context.js";
import { type FlightSelector, flightSourceFrom, resolveFlight } from "../resolve-flight.js";

export interface FlightsShowData {
  flight: Flight;
  waypointCount: number;
  bbox: { west: number; south: number; east: number; north: number };
  bboxInfo: Omit<FlightBounds, "west" | "south" | "east" | "north">;
}

export async function flightsShow(ctx: CommandContext, selector: FlightSelector): Promise<CommandResult> {
  const flight = await resolveFlight(ctx, await flightSourceFrom(ctx, selector));
  const bufferM = ctx.option("bboxBufferM");
  const { west, south, east, north, ...bboxInfo } = flightBounds(
    [flight.takeoff, ...flight.waypoints],
    bufferM,
  );
  for (const edge of bboxInfo.clampedEdges) {
    ctx.logger.warn(
      { edge },
      `the ${edge} edge of the bbox was clamped to the Web-Mercator limit (±85.05112878°): no tiles exist beyond it`,
    );
  }
  const data: FlightsShowData = {
    flight,
    waypointCount: flight.waypoints.length,
    bbox: { west, south, east, north },
    bboxInfo,
  };
  return { data, text: renderFlight(data) };
}

function renderFlight({ flight, waypointCount, bbox, bboxInfo }: FlightsShowData): string {
  const source =
    flight.source.kind === "api"
      ? `Flights API ${flight.source.url}`
      : `${flight.source.path} (${flight.source.format})`;
  const notes: string[] = [];
  if (bboxInfo.crossesAntimeridian) notes.push("crosses the antimeridian (west > east)");
  if (bboxInfo.coversAllLongitudes) notes.push("covers all longitudes");
  if (bboxInfo.clampedEdges.length > 0)
    notes.push(`${bboxInfo.clampedEdges.join(" and ")} edge clamped to 85.05112878°`);
  const rows = [
    ["Flight", `${flight.id}${flight.name !== flight.id ? `  "${flight.name}"` : ""}`],
    ["Source", source],
    ...(flight.updatedAt === undefined ? [] : [["Updated", flight.updatedAt]]),
    ["Takeoff", `${fmt(flight.takeoff.lat)}, ${fmt(flight.takeoff.lon)}  alt ${flight.takeoff.altM} m`],
    ["Waypoints", String(waypointCount)],
    [
      "Bbox",
      `W ${fmt(bbox.west)}  S ${fmt(bbox.south)}  E ${fmt(bbox.east)}  N ${fmt(bbox.north)}  (buffer ${bboxInfo.bufferM} m)`,
    ],
    ["Size", `${bboxInfo.widthKm.toFixed(2)} km × ${bboxInfo.heightKm.toFixed(2)} km`],
    ...(notes.length === 0 ? [] : [["Note", notes.join("; ")]]),
  ] as Array<[string, string]>;
  return rows.map(([label, value]) => `${label.padEnd(10)} ${value}`).join("\n");
}

function fmt(deg: number): string {
  return deg.toFixed(6);
}
