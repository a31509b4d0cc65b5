import { InvalidArgumentError } from "@operator-tool/errors";
import type { Flight } from "@operator-tool/flights-api";
import type { CommandContext } from "./context.js";
import { userAgent } from "./version.js";

export interface FlightSelector {
  flightId?: string;
  flightFile?: string;
}

/** Phase 0 of every flight command: from the API (`--flight-id`) or a file (`--flight-file`). */
export async function resolveFlight(ctx: CommandContext, selector: FlightSelector): Promise<Flight> {
  const { fetchFlight, loadFlightFile } = await import("@operator-tool/flights-api");
  if (selector.flightId !== undefined && selector.flightFile !== undefined) {
    throw new InvalidArgumentError("--flight-id and --flight-file were both given", {
      hint: "give exactly one of them",
    });
  }
  if (selector.flightFile !== undefined) {
    ctx.logger.debug({ flightFile: selector.flightFile }, "loading flight file");
    return loadFlightFile(selector.flightFile);
  }
  if (selector.flightId === undefined) {
    throw new InvalidArgumentError("no flight given", {
      hint: "pass --flight-id ID (Flights API) or --flight-file PATH",
    });
  }
  const baseUrl = ctx.requireOption("flightsApiUrl");
  ctx.logger.debug({ flightId: selector.flightId, baseUrl }, "fetching flight");
  return fetchFlight({
    baseUrl,
    flightId: selector.flightId,
    token: ctx.secrets.flightsApiToken,
    userAgent: userAgent(),
    responseTimeoutMs: ctx.option("flightsApiTimeout") * 1000,
    connectTimeoutMs: Math.min(ctx.option("flightsApiTimeout") * 1000, 5_000),
    signal: ctx.signal,
    logger: ctx.logger,
  });
}
