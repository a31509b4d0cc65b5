import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type FlightsApiServer, sampleFlight, startFlightsApi } from "./flights-api-server.js";
import { writeOnnxModel } from "./onnx-model.js";
import { type SimulatedCompanion, startSimulatedCompanion } from "./simulated-companion.js";
import { startTileServer, type TileServer } from "./tile-server.js";

/** A flight as the Flights API serves it. */
export type FlightPayload = { id: string } & Record<string, unknown>;

export interface DemoEnvironmentOptions {
  /** An empty directory the environment lives in (config, secrets, staging root, the companion's files). */
  dir: string;
  /** The flight the API serves; a short survey near Kyiv when not given. */
  flight?: FlightPayload;
}

export interface DemoEnvironment {
  dir: string;
  flightId: string;
  api: FlightsApiServer;
  tiles: TileServer;
  companion: SimulatedCompanion;
  /** The Flights API token and the tile key: whoever prints must redact them. */
  secrets: string[];
  /** `operator-tool.config.json` in `dir`: a build-cache run there needs no flags but the flight. */
  configPath: string;
  close(): Promise<void>;
}

/**
 * Everything build-cache talks to, on loopback, configured: a Flights API with
 * the flight (bearer token in a file), a tile server (API key in a file), a
 * fresh companion reachable over SSH (no operator-tool there: build-cache
 * installs it), a corpus of two small ONNX models on this side (build-cache
 * pushes them), and an `operator-tool.config.json` that points at all of them.
 */
export async function startDemoEnvironment(options: DemoEnvironmentOptions): Promise<DemoEnvironment> {
  const { dir } = options;
  const closers: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const closeOne of closers.reverse()) await closeOne().catch(() => undefined);
  };
  try {
    const token = randomBytes(12).toString("hex");
    const apiKey = randomBytes(12).toString("hex");
    writeFileSync(join(dir, "flights-api-token"), `${token}\n`, { mode: 0o600 });
    writeFileSync(join(dir, "tile-api-key"), `${apiKey}\n`, { mode: 0o600 });

    const flight = options.flight ?? sampleFlight("F-DEMO-0001");
    const api = await startFlightsApi({ flights: [flight], token });
    closers.push(() => api.close());
    const tiles = await startTileServer({ apiKey, tileBytes: 8_000 });
    closers.push(() => tiles.close());
    const companion = await startSimulatedCompanion(dir);
    closers.push(() => companion.close());

    const companionRoot = join(dir, "companion");
    const corpus = writeCorpus(join(dir, "models"));
    const config = {
      flightsApiUrl: api.url,
      flightsApiTokenFile: "flights-api-token",
      satelliteProviderUrl: tiles.template,
      apiKeyFile: "tile-api-key",
      zoom: "15-17",
      bboxBufferM: 300,
      stagingRoot: "staging",
      companionHost: companion.host,
      companionPort: companion.port,
      companionUser: companion.user,
      identityFile: companion.identityFile,
      knownHosts: companion.knownHostsFile,
      sshConfig: "no-ssh-config",
      companionCacheRoot: companionRoot,
      corpus,
      installCompanion: true,
    };
    const configPath = join(dir, "operator-tool.config.json");
    writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`);
    return { dir, flightId: flight.id, api, tiles, companion, secrets: [token, apiKey], configPath, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Two models (one with a dynamic batch) and the corpus naming them, on the workstation; returns the corpus. */
function writeCorpus(modelsDir: string): string {
  mkdirSync(modelsDir, { recursive: true });
  writeOnnxModel(join(modelsDir, "dinov2_vpr.onnx"), { shape: [1, 3, 16, 16], scale: 2 });
  writeOnnxModel(join(modelsDir, "lightglue.onnx"), {
    shape: ["batch", 3, 16, 16],
    scale: 3,
  });
  const corpus = {
    backbones: [
      {
        modelName: "dinov2_vpr",
        onnxPath: "dinov2_vpr.onnx",
        inputName: "input",
        inputShape: [1, 3, 16, 16],
        precision: "fp16",
      },
      {
        modelName: "lightglue",
        onnxPath: "lightglue.onnx",
        inputName: "input",
        inputShape: { min: [1, 3, 16, 16], opt: [2, 3, 16, 16], max: [4, 3, 16, 16] },
        precision: "fp16",
      },
    ],
  };
  const path = join(modelsDir, "corpus.json");
  writeFileSync(path, `${JSON.stringify(corpus, null, 2)}\n`);
  return path;
}
