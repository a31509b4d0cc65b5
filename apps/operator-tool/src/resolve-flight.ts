import { InvalidArgumentError } from "@operator-tool/errors";
import type { Flight } from "@operator-tool/flights-api";
import type { CommandContext, RunScope } from "./context.js";
import { userAgent } from "./version.js";

export interface FlightSelector {
  flightId?: string;
  flightFile?: string;
}

/** Where the flight comes from, checked: the options are right, nothing has been fetched or read. */
export type FlightSource =
  | { kind: "api"; flightId: string; baseUrl: string }
  | { kind: "file"; path: string };

export async function flightSourceFrom(ctx: CommandContext, selector: FlightSelector): Promise<FlightSource> {
  if (selector.flightId !== undefined && selector.flightFile !== undefined) {
    throw new InvalidArgumentError("--flight-id and --flight-file were both given", {
      hint: "give exactly one of them",
    });
  }
  if (selector.flightFile !== undefined) return { kind: "file", path: selector.flightFile };
  if (selector.flightId === undefined) {
    throw new InvalidArgumentError("no flight given", {
      hint: "pass --flight-id ID (Flights API) or --flight-file PATH",
    });
  }
  const baseUrl = ctx.requireOption("flightsApiUrl");
  const { flightUrl } = await import("@operator-tool/flights-api");
  flightUrl(baseUrl, selector.flightId); // names a bad id or URL before anything runs
  return { kind: "api", flightId: selector.flightId, baseUrl };
}

/** Phase 0 of every flight command: from the API (`--flight-id`) or a file (`--flight-file`). */
export async function resolveFlight(
  ctx: CommandContext,
  source: FlightSource,
  run: RunScope = ctx,
): Promise<Flight> {
  const { fetchFlight, loadFlightFile } = await import("@operator-tool/flights-api");
  if (source.kind === "file") {
    run.logger.debug({ flightFile: source.path }, "loading flight file");
    return loadFlightFile(source.path);
  }
  run.logger.debug({ flightId: source.flightId, baseUrl: source.baseUrl }, "fetching flight");
  return fetchFlight({
    baseUrl: source.baseUrl,
    flightId: source.flightId,
    token: ctx.secrets.flightsApiToken,
    userAgent: userAgent(),
    responseTimeoutMs: ctx.option("flightsApiTimeout") * 1000,
    connectTimeoutMs: Math.min(ctx.option("flightsApiTimeout") * 1000, 5_000),
    signal: run.signal,
    logger: run.logger,
  });
}
