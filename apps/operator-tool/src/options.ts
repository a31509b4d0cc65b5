import { InvalidArgumentError as CommanderArgumentError, Option } from "commander";

/** Option parsers: a bad value becomes commander's usage error (exit 2) naming the flag. */
export function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0)
    throw new CommanderArgumentError("expected a number >= 0");
  return n;
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n <= 0)
    throw new CommanderArgumentError("expected a number > 0");
  return n;
}

export function positiveInteger(value: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) <= 0)
    throw new CommanderArgumentError("expected a whole number > 0");
  return Number(value);
}

export function port(value: string): number {
  const n = positiveInteger(value);
  if (n > 65_535) throw new CommanderArgumentError("expected a port number 1-65535");
  return n;
}

export const GROUPS = {
  flight: "Flight:",
  tiles: "Tiles:",
  companion: "Companion:",
  engines: "Engines:",
  output: "Output:",
} as const;

export function flightOptions(): Option[] {
  return [
    new Option("--flight-id <id>", "flight to fetch from the Flights API")
      .conflicts("flightFile")
      .helpGroup(GROUPS.flight),
    new Option(
      "--flight-file <path>",
      "flight file instead: flight JSON, QGroundControl .plan or QGC WPL 110 .waypoints",
    )
      .conflicts("flightId")
      .helpGroup(GROUPS.flight),
    new Option("--flights-api-url <url>", "Flights API base URL (config: flightsApiUrl)").helpGroup(
      GROUPS.flight,
    ),
    new Option(
      "--flights-api-token-file <path>",
      "file holding the Flights API token (else env OPERATOR_TOOL_FLIGHTS_API_TOKEN)",
    ).helpGroup(GROUPS.flight),
    new Option("--flights-api-timeout <seconds>", "Flights API response timeout (default 15)")
      .argParser(positiveNumber)
      .helpGroup(GROUPS.flight),
    new Option("--bbox-buffer-m <metres>", "grow the flight's bbox by this much on every side (default 500)")
      .argParser(nonNegativeNumber)
      .helpGroup(GROUPS.flight),
  ];
}
