import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type FlightsApiServer,
  freePort,
  makeTempDir,
  REPO_ROOT,
  runOperatorTool,
  sampleFlight,
  startFlightsApi,
} from "@operator-tool/test-helpers";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

const TOKEN = "tok-cli-5eCr3t-9f1d";
const flight = sampleFlight("F-2024-0042");
const example = join(REPO_ROOT, "examples/flights/kyiv-survey.json");
const fixture = (name: string) => join(REPO_ROOT, "packages/flights-api/test-fixtures", name);
const env = { OPERATOR_TOOL_FLIGHTS_API_TOKEN: TOKEN };

let api: FlightsApiServer;
let temp: ReturnType<typeof makeTempDir>;
beforeAll(async () => {
  api = await startFlightsApi({ flights: [flight], token: TOKEN });
  temp = makeTempDir();
});
afterAll(async () => {
  await api.close();
  temp.cleanup();
});

let extraServer: FlightsApiServer | undefined;
afterEach(async () => {
  await extraServer?.close();
  extraServer = undefined;
});

function expectNoSecret(run: { stdout: string; stderr: string }) {
  expect(run.stdout).not.toContain(TOKEN);
  expect(run.stderr).not.toContain(TOKEN);
}

describe("operator-tool flights show (the built binary)", () => {
  it("0: prints the flight from the API, with bbox and size", async () => {
    const run = await runOperatorTool(
      ["flights", "show", "--flight-id", flight.id, "--flights-api-url", api.url],
      { env },
    );
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/^Flight\s+F-2024-0042/);
    expect(run.stdout).toMatch(/Waypoints\s+3/);
    expect(run.stdout).toMatch(/Size\s+[\d.]+ km × [\d.]+ km/);
    expect(run.stderr).toBe("");
    expectNoSecret(run);
  });

  it("0: --json prints one document with bbox {west,south,east,north}", async () => {
    const run = await runOperatorTool([
      "flights",
      "show",
      "--flight-file",
      example,
      "--bbox-buffer-m",
      "1000",
      "--json",
    ]);
    expect(run.exitCode).toBe(0);
    const doc = JSON.parse(run.stdout) as {
      bbox: Record<string, number>;
      waypointCount: number;
      bboxInfo: { bufferM: number };
    };
    expect(Object.keys(doc.bbox)).toEqual(["west", "south", "east", "north"]);
    expect(doc.bbox.west).toBeLessThan(30.5155);
    expect(doc.waypointCount).toBe(5);
    expect(doc.bboxInfo.bufferM).toBe(1000);
  });

  it("0: reads each flight file format", async () => {
    for (const name of ["survey.plan", "canberra.waypoints", "mislabelled-wpl.txt"]) {
      const run = await runOperatorTool(["flights", "show", "--flight-file", fixture(name), "--json"]);
      expect(run.exitCode, name).toBe(0);
    }
  });

  it.each([
    [["flights", "shw"], /^error: unknown command 'shw'/],
    [["flights", "show", "--bogus"], /^error: unknown option '--bogus'/],
    [
      ["flights", "show", "--flight-file", "x", "--bbox-buffer-m", "-5"],
      /^error: option '--bbox-buffer-m <metres>' argument '-5' is invalid/,
    ],
    [["flights", "show"], /^error: no flight given — pass --flight-id/],
    [
      ["flights", "show", "--flight-id", "F-1", "--flight-file", "x"],
      /^error: option '--flight-id <id>' cannot be used with option '--flight-file <path>'/,
    ],
    [
      ["flights", "show", "--flight-id", "F-1"],
      /^error: --flights-api-url is not set — pass --flights-api-url, or set "flightsApiUrl"/,
    ],
    [
      ["flights", "show", "--flight-id", "no/slash", "--flights-api-url", "http://127.0.0.1:9"],
      /^error: --flight-id "no\/slash" is not a flight id/,
    ],
    [
      ["flights", "show", "--flight-id", "F-1", "--flights-api-url", "ftp://x"],
      /^error: --flights-api-url "ftp:\/\/x" must be http/,
    ],
    [
      ["flights", "show", "--flight-file", "x", "--flights-api-token-file", "/nonexistent/token"],
      /^error: --flights-api-token-file \/nonexistent\/token cannot be read/,
    ],
  ])("2: %j", async (args, firstLine) => {
    const run = await runOperatorTool(args, { env });
    expect(run.exitCode).toBe(2);
    expect(run.firstErrorLine).toMatch(firstLine);
    expect(run.stdout).toBe("");
  });

  it("90: flight not found", async () => {
    const run = await runOperatorTool(
      ["flights", "show", "--flight-id", "F-404", "--flights-api-url", api.url],
      { env },
    );
    expect(run.exitCode).toBe(90);
    expect(run.firstErrorLine).toMatch(
      /^error: flight "F-404" was not found on the Flights API at http:\/\/127\.0\.0\.1:\d+ \(HTTP 404\) — check --flight-id/,
    );
    expectNoSecret(run);
  });

  it("91: token rejected, and the token is not printed", async () => {
    const run = await runOperatorTool(
      ["flights", "show", "--flight-id", flight.id, "--flights-api-url", api.url],
      {
        env: { OPERATOR_TOOL_FLIGHTS_API_TOKEN: `${TOKEN}-wrong` },
      },
    );
    expect(run.exitCode).toBe(91);
    expect(run.firstErrorLine).toMatch(
      /^error: the Flights API at .* rejected the token \(HTTP 401\) — set a valid token/,
    );
    expect(run.stderr).not.toContain(`${TOKEN}-wrong`);
  });

  it("91: the token file is read and wins over the environment", async () => {
    const tokenFile = join(temp.path, "token");
    writeFileSync(tokenFile, `${TOKEN}\n`);
    const run = await runOperatorTool(
      [
        "flights",
        "show",
        "--flight-id",
        flight.id,
        "--flights-api-url",
        api.url,
        "--flights-api-token-file",
        tokenFile,
      ],
      { env: { OPERATOR_TOOL_FLIGHTS_API_TOKEN: "stale-token-value" } },
    );
    expect(run.exitCode).toBe(0);
    expectNoSecret(run);
  });

  it("92: unreachable (connection refused) after retries", async () => {
    const port = await freePort();
    const run = await runOperatorTool(
      [
        "flights",
        "show",
        "--flight-id",
        flight.id,
        "--flights-api-url",
        `http://127.0.0.1:${port}`,
        "--log-level",
        "error",
      ],
      { env },
    );
    expect(run.exitCode).toBe(92);
    expect(run.firstErrorLine).toMatch(
      /^error: the Flights API at http:\/\/127\.0\.0\.1:\d+ could not be reached for flight "F-2024-0042": connection refused \(4 attempts\)/,
    );
  });

  it("92: a server that never answers times out", async () => {
    extraServer = await startFlightsApi({ flights: [flight], always: { hang: true } });
    const run = await runOperatorTool(
      [
        "flights",
        "show",
        "--flight-id",
        flight.id,
        "--flights-api-url",
        extraServer.url,
        "--flights-api-timeout",
        "0.3",
        "--log-level",
        "error",
      ],
      { env },
    );
    expect(run.exitCode).toBe(92);
    expect(run.firstErrorLine).toContain("no response within the timeout");
  });

  it("92: 5xx retries are logged as warnings with the attempt count, token-free", async () => {
    extraServer = await startFlightsApi({ flights: [flight], token: TOKEN, script: [{ status: 502 }] });
    const run = await runOperatorTool(
      [
        "flights",
        "show",
        "--flight-id",
        flight.id,
        "--flights-api-url",
        extraServer.url,
        "--log-format",
        "json",
      ],
      { env },
    );
    expect(run.exitCode).toBe(0);
    const warning = JSON.parse(run.stderr.split("\n")[0]!) as { level: string; attempt: number; msg: string };
    expect(warning).toMatchObject({ level: "warn", attempt: 1 });
    expect(warning.msg).toContain("HTTP 502");
    expectNoSecret(run);
  });

  it("93: payload fails the schema, naming the field", async () => {
    extraServer = await startFlightsApi({
      flights: [flight],
      always: { body: JSON.stringify({ ...flight, takeoff: { lat: 50 } }) },
    });
    const run = await runOperatorTool(
      ["flights", "show", "--flight-id", flight.id, "--flights-api-url", extraServer.url],
      { env },
    );
    expect(run.exitCode).toBe(93);
    expect(run.firstErrorLine).toMatch(
      /^error: the Flights API returned flight "F-2024-0042" in a shape operator-tool cannot use: takeoff\.lon: /,
    );
  });

  it("94: flight file missing", async () => {
    const run = await runOperatorTool(["flights", "show", "--flight-file", "missing.plan"]);
    expect(run.exitCode).toBe(94);
    expect(run.firstErrorLine).toBe("error: flight file missing.plan does not exist — check --flight-file");
  });

  it("95: flight file invalid, naming the field", async () => {
    const run = await runOperatorTool(["flights", "show", "--flight-file", fixture("bad-schema.json")]);
    expect(run.exitCode).toBe(95);
    expect(run.firstErrorLine).toMatch(
      /^error: flight file .*bad-schema\.json is not a valid flight: waypoints\[1\]\.lon: /,
    );
  });

  it("--json also puts a failure on stdout as one document", async () => {
    const run = await runOperatorTool(["flights", "show", "--flight-file", "missing.plan", "--json"]);
    expect(run.exitCode).toBe(94);
    expect(JSON.parse(run.stdout)).toMatchObject({ error: { code: "FLIGHT_FILE_UNREADABLE", exitCode: 94 } });
  });
});

describe("configuration", () => {
  it("reads operator-tool.config.yaml from the working directory; flags override it", async () => {
    const dir = join(temp.path, "yaml-config");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "operator-tool.config.yaml"), `flightsApiUrl: ${api.url}\nbboxBufferM: 2000\n`);
    const fromConfig = await runOperatorTool(["flights", "show", "--flight-id", flight.id, "--json"], {
      env,
      cwd: dir,
    });
    expect(fromConfig.exitCode).toBe(0);
    expect(JSON.parse(fromConfig.stdout).bboxInfo.bufferM).toBe(2000);
    const overridden = await runOperatorTool(
      ["flights", "show", "--flight-id", flight.id, "--json", "--bbox-buffer-m", "10"],
      {
        env,
        cwd: dir,
      },
    );
    expect(JSON.parse(overridden.stdout).bboxInfo.bufferM).toBe(10);
  });

  it("2: an invalid config names the file and the field path", async () => {
    const config = join(temp.path, "bad.json");
    writeFileSync(config, JSON.stringify({ bboxBufferM: "wide", companionPort: 70000 }));
    const run = await runOperatorTool(["--config", config, "flights", "show", "--flight-file", example]);
    expect(run.exitCode).toBe(2);
    expect(run.firstErrorLine).toMatch(
      /^error: config file .*bad\.json is invalid: bboxBufferM: .*; companionPort: /,
    );
  });

  it("2: an unknown key is a typo, not ignored", async () => {
    const config = join(temp.path, "typo.json");
    writeFileSync(config, JSON.stringify({ bboxBuferM: 100 }));
    const run = await runOperatorTool(["--config", config, "flights", "show", "--flight-file", example]);
    expect(run.exitCode).toBe(2);
    expect(run.firstErrorLine).toContain("bboxBuferM");
  });

  it("2: broken YAML names the line", async () => {
    const config = join(temp.path, "broken.yaml");
    writeFileSync(config, "flightsApiUrl: [unclosed\n");
    const run = await runOperatorTool(["--config", config, "flights", "show", "--flight-file", example]);
    expect(run.exitCode).toBe(2);
    expect(run.firstErrorLine).toMatch(/is not valid YAML \(line \d+, column \d+\)/);
  });

  it("2: --config pointing nowhere", async () => {
    const run = await runOperatorTool([
      "--config",
      "/nonexistent.json",
      "flights",
      "show",
      "--flight-file",
      example,
    ]);
    expect(run.exitCode).toBe(2);
    expect(run.firstErrorLine).toBe("error: config file /nonexistent.json does not exist — check --config");
  });
});

describe("help and version", () => {
  it("--help lists commands and examples, exit 0", async () => {
    const run = await runOperatorTool(["--help"]);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain("Usage: operator-tool");
    expect(run.stdout).toContain("Examples:");
  });

  it("--version prints the package version", async () => {
    const run = await runOperatorTool(["--version"]);
    expect(run.exitCode).toBe(0);
    expect(run.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it("no command: usage on stderr, exit 2", async () => {
    const run = await runOperatorTool([]);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain("Usage: operator-tool");
  });
});
