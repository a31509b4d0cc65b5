import { InvalidArgumentError as CommanderArgumentError, Option } from "commander";
import { parseAgeSeconds } from "./config/age.js";

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

export function age(value: string): number {
  const seconds = parseAgeSeconds(value);
  if (seconds === undefined)
    throw new CommanderArgumentError("expected an age like 30d, 12h, 90m or seconds");
  return seconds;
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

export function tileOptions(): Option[] {
  return [
    new Option(
      "--satellite-provider-url <template>",
      "XYZ tile URL template: {z} {x} {y} {-y} {q} {s} {apiKey}",
    ).helpGroup(GROUPS.tiles),
    new Option("--zoom <min-max>", "zoom levels, e.g. 16-18 or 17 (default 16-18)").helpGroup(GROUPS.tiles),
    new Option(
      "--coverage <mode>",
      "corridor: tiles near the flight path; bbox: the whole buffered box (default corridor)",
    )
      .choices(["corridor", "bbox"])
      .helpGroup(GROUPS.tiles),
    new Option("--max-tiles <n>", "refuse a plan larger than this (default 50000)")
      .argParser(positiveInteger)
      .helpGroup(GROUPS.tiles),
    new Option(
      "--staging-root <dir>",
      "tile cache, locks and run records (default ~/.cache/operator-tool)",
    ).helpGroup(GROUPS.tiles),
    new Option(
      "--api-key-file <path>",
      "file holding the provider's API key (else env OPERATOR_TOOL_API_KEY)",
    ).helpGroup(GROUPS.tiles),
    new Option(
      "--api-key <key>",
      "the provider's API key (visible in ps; prefer the env or --api-key-file)",
    ).helpGroup(GROUPS.tiles),
  ];
}

export function downloadOptions(): Option[] {
  return [
    new Option("--concurrency <n>", "parallel tile requests (default 8)")
      .argParser(positiveInteger)
      .helpGroup(GROUPS.tiles),
    new Option(
      "--max-connections <n>",
      "connections per provider host; HTTP/2 carries --concurrency requests on these (default 2 for HTTP/2, 8 for HTTP/1.1)",
    )
      .argParser(positiveInteger)
      .helpGroup(GROUPS.tiles),
    new Option(
      "--ca-file <path>",
      "PEM file of a private CA to trust for the tile provider, besides the system's",
    ).helpGroup(GROUPS.tiles),
    new Option(
      "--max-age <age>",
      "ask again for cached tiles older than this (30d, 12h, 90m, seconds), with If-None-Match/If-Modified-Since (default never)",
    )
      .argParser(age)
      .helpGroup(GROUPS.tiles),
    new Option("--max-rps <n>", "requests per second per provider host, 0 for no cap (default 0)")
      .argParser(nonNegativeNumber)
      .helpGroup(GROUPS.tiles),
    new Option(
      "--user-agent <text>",
      "User-Agent for tile requests, for providers that ask you to identify (default operator-tool/<version>)",
    ).helpGroup(GROUPS.tiles),
    new Option(
      "--allow-absent",
      "succeed even when the provider has no imagery (404/204) for some tiles",
    ).helpGroup(GROUPS.tiles),
    new Option("--retry-absent", "ask again for tiles an earlier run recorded as absent").helpGroup(
      GROUPS.tiles,
    ),
  ];
}

export function engineOptions(): Option[] {
  return [
    new Option("--corpus <file>", "corpus file: the models to build (config: corpus)").helpGroup(
      GROUPS.engines,
    ),
    new Option(
      "--cache-root <dir>",
      "where engines live (default: the corpus's cacheRoot, else <staging-root>/engines)",
    ).helpGroup(GROUPS.engines),
    new Option(
      "--staging-root <dir>",
      "operator-tool's state directory (default ~/.cache/operator-tool)",
    ).helpGroup(GROUPS.engines),
    new Option("--backend <backend>", "auto: tensorrt when trtexec is found, else onnxruntime")
      .choices(["auto", "tensorrt", "onnxruntime"])
      .default("auto")
      .helpGroup(GROUPS.engines),
    new Option("--dry-run", "print each model's decision and reasons; build nothing").helpGroup(
      GROUPS.engines,
    ),
    new Option("--force [models...]", "rebuild every model, or the models named").helpGroup(GROUPS.engines),
    new Option("--prune", "remove this corpus's engines built for other hosts").helpGroup(GROUPS.engines),
    new Option("--sm <n>", "GPU compute capability as an integer (87 for Orin), overriding the probe")
      .argParser(positiveInteger)
      .helpGroup(GROUPS.engines),
    new Option("--jetpack <version>", "JetPack release, overriding the probe").helpGroup(GROUPS.engines),
    new Option("--tensorrt <version>", "TensorRT version (10.3.0), overriding the probe").helpGroup(
      GROUPS.engines,
    ),
    new Option(
      "--host-root <dir>",
      "read /etc/nv_tegra_release and /proc/device-tree under this root (tests, chroots)",
    )
      // From the environment too: a wrapper on the companion sets it for the compile-engines a session runs.
      .env("OPERATOR_TOOL_HOST_ROOT")
      .default("/")
      .helpGroup(GROUPS.engines),
  ];
}

export function companionOptions(): Option[] {
  return [
    new Option(
      "--companion-host <host>",
      "companion address or ~/.ssh/config alias (config: companionHost)",
    ).helpGroup(GROUPS.companion),
    new Option("--companion-port <port>", "SSH port (default 22, or the alias's Port)")
      .argParser(port)
      .helpGroup(GROUPS.companion),
    new Option("--companion-user <user>", "SSH user (default: the alias's User, else yours)").helpGroup(
      GROUPS.companion,
    ),
    new Option(
      "--identity-file <path>",
      "SSH private key; passphrase from OPERATOR_TOOL_SSH_PASSPHRASE",
    ).helpGroup(GROUPS.companion),
    new Option(
      "--known-hosts <path>",
      "the companion's UserKnownHostsFile (default: ssh_config's, else ~/.ssh/known_hosts)",
    ).helpGroup(GROUPS.companion),
    new Option(
      "--accept-new-host-key",
      "StrictHostKeyChecking accept-new for the companion: record its key on first contact (a changed key is always refused)",
    ).helpGroup(GROUPS.companion),
    new Option(
      "--ssh-config <path>",
      "ssh_config to use, as ssh -F (default ~/.ssh/config, then /etc/ssh/ssh_config)",
    ).helpGroup(GROUPS.companion),
    new Option(
      "--companion-cache-root <dir>",
      "cache directory on the companion (default /var/cache/operator-tool)",
    ).helpGroup(GROUPS.companion),
    new Option(
      "--remote-command <cmd>",
      "how to run operator-tool on the companion (default: ~/.local/bin/operator-tool from companion install when there, else operator-tool on its PATH)",
    ).helpGroup(GROUPS.companion),
  ];
}
