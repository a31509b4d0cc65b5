import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type FlightsApiServer, sampleFlight, startFlightsApi } from "./flights-api-server.js";
import { writeOnnxModel } from "./onnx-model.js";
import { CLI_PATH, runOperatorTool } from "./run-operator-tool.js";
import { type SshdFixture, startSshd } from "./sshd.js";
import { makeTempDir } from "./temp-dir.js";
import { startTileServer, type TileServer } from "./tile-server.js";

export const API_KEY = "e2e-ApiKey-7Hq2-secret";
export const TOKEN = "e2e-FlightsTok-Z9x4-secret";

/** A whole world on loopback: Flights API, tile provider, a companion behind a real sshd. */
export interface World {
  sshd: SshdFixture;
  api: FlightsApiServer;
  tiles: TileServer;
  temp: ReturnType<typeof makeTempDir>;
  staging: string;
  companionRoot: string;
  knownHosts: string;
  corpus: string;
  args(extra?: string[]): string[];
  run(extra?: string[], env?: Record<string, string | undefined>): ReturnType<typeof runOperatorTool>;
  /** Starts build-cache as a child process and returns at once: for kills, signals, contention. */
  spawnBuild(extra?: string[]): BuildProcess;
  close(): Promise<void>;
}

export interface BuildProcess {
  child: ChildProcess;
  exited: Promise<number | null>;
  stdout(): string;
  stderr(): string;
}

/** Polls until `condition` holds (or the time is up): for waiting on another process. */
export async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
}

export async function startWorld(
  options: { tileLatencyMs?: number; tileApiKey?: string } = {},
): Promise<World> {
  const temp = makeTempDir("operator-tool-e2e-");
  const sshd = await startSshd();
  const api = await startFlightsApi({ flights: [sampleFlight("F-2024-0042")], token: TOKEN });
  const tiles = await startTileServer({
    apiKey: options.tileApiKey ?? API_KEY,
    latencyMs: options.tileLatencyMs ?? 0,
  });
  const staging = join(temp.path, "staging");
  const companionRoot = join(temp.path, "companion");
  const knownHosts = join(temp.path, "known_hosts");
  writeFileSync(knownHosts, `${sshd.knownHostsLine}\n`);
  writeOnnxModel(join(temp.path, "dinov2_vpr.onnx"), { shape: [1, 3, 8, 8] });
  const corpus = join(temp.path, "corpus.json");
  writeFileSync(
    corpus,
    JSON.stringify({
      cacheRoot: join(companionRoot, "engines"),
      backbones: [
        {
          modelName: "dinov2_vpr",
          onnxPath: join(temp.path, "dinov2_vpr.onnx"),
          inputName: "input",
          inputShape: [1, 3, 8, 8],
        },
      ],
    }),
  );
  const args = (extra: string[] = []) => [
    "build-cache",
    "--flight-id",
    "F-2024-0042",
    "--flights-api-url",
    api.url,
    "--satellite-provider-url",
    tiles.template,
    "--zoom",
    "15-16",
    "--bbox-buffer-m",
    "300",
    "--staging-root",
    staging,
    "--companion-host",
    "127.0.0.1",
    "--companion-port",
    String(sshd.port),
    "--companion-user",
    sshd.user,
    "--identity-file",
    sshd.identityFile,
    "--known-hosts",
    knownHosts,
    "--ssh-config",
    join(temp.path, "no-ssh-config"),
    "--companion-cache-root",
    companionRoot,
    "--remote-command",
    `${process.execPath} ${CLI_PATH}`,
    "--remote-corpus",
    corpus,
    ...extra,
  ];
  return {
    sshd,
    api,
    tiles,
    temp,
    staging,
    companionRoot,
    knownHosts,
    corpus,
    args,
    run: (extra = [], env = {}) =>
      runOperatorTool(args(extra), {
        env: {
          OPERATOR_TOOL_API_KEY: API_KEY,
          OPERATOR_TOOL_FLIGHTS_API_TOKEN: TOKEN,
          HOME: temp.path,
          ...env,
        },
        timeoutMs: 90_000,
      }),
    spawnBuild(extra = []) {
      const env = {
        ...process.env,
        OPERATOR_TOOL_API_KEY: API_KEY,
        OPERATOR_TOOL_FLIGHTS_API_TOKEN: TOKEN,
        HOME: temp.path,
      };
      const child = spawn(process.execPath, [CLI_PATH, ...args(extra)], {
        env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout!.on("data", (d: Buffer) => {
        stdout += d;
      });
      child.stderr!.on("data", (d: Buffer) => {
        stderr += d;
      });
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      return { child, exited, stdout: () => stdout, stderr: () => stderr };
    },
    async close() {
      await Promise.all([sshd.stop(), api.close(), tiles.close()]);
      temp.cleanup();
    },
  };
}

/** A `--remote-command` that runs the real operator-tool, except `compile-engines`, which it replaces. */
export function fakeRemote(world: World, name: string, compileEngines: string): string {
  const path = join(world.temp.path, `${name}.sh`);
  writeFileSync(
    path,
    `#!/bin/sh\ncase "$1" in\n  compile-engines) ${compileEngines} ;;\n  *) exec ${process.execPath} ${CLI_PATH} "$@" ;;\nesac\n`,
  );
  chmodSync(path, 0o755);
  return path;
}

export function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

export function readAll(dir: string): string {
  return filesUnder(dir)
    .map((f) => readFileSync(f).toString("latin1"))
    .join("\n");
}
