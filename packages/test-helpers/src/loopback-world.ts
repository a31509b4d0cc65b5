import { spawn } from "node:child_process";
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type FlightsApiServer,
  sampleFlight,
  startFlightsApi,
  startTileServer,
  type TileServer,
  writeOnnxModel,
} from "@operator-tool/demo-environment";
import { CLI_PATH, type CliRun, runOperatorTool, trackChild } from "./run-operator-tool.js";
import { type SshdFixture, startSshd } from "./sshd.js";
import { makeTempDir } from "./temp-dir.js";

export const API_KEY = "e2e-ApiKey-7Hq2-secret";
export const TOKEN = "e2e-FlightsTok-Z9x4-secret";

export interface WorldRunOptions {
  /** Extra arguments for node itself (a test fixture's `--import`). */
  nodeArgs?: string[];
  timeoutMs?: number;
}

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
  /** The environment a build needs: the secrets, and HOME inside the world. */
  env: Record<string, string>;
  args(extra?: string[]): string[];
  run(extra?: string[], env?: Record<string, string | undefined>, options?: WorldRunOptions): Promise<CliRun>;
  /** Starts build-cache as a child process and returns at once: for kills, signals, contention. */
  spawnBuild(
    extra?: string[],
    env?: Record<string, string | undefined>,
    options?: WorldRunOptions,
  ): BuildProcess;
  close(): Promise<void>;
}

export interface BuildProcess {
  child: ReturnType<typeof spawn>;
  exited: Promise<number | null>;
  stdout(): string;
  stderr(): string;
}

/**
 * Polls until `condition` holds; throws when `timeoutMs` passes first, so a
 * test never goes on as if the event had happened.
 */
export async function waitFor(
  condition: () => boolean,
  timeoutMs = 20_000,
  what = "the condition",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Whether a process with this pid is still there (signal 0 probes without signalling). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function startWorld(
  options: { tileLatencyMs?: number; tileApiKey?: string } = {},
): Promise<World> {
  const temp = makeTempDir("operator-tool-e2e-");
  const closers: Array<() => Promise<void>> = [];
  try {
    const sshd = await startSshd();
    closers.push(() => sshd.stop());
    const api = await startFlightsApi({ flights: [sampleFlight("F-2024-0042")], token: TOKEN });
    closers.push(() => api.close());
    const tiles = await startTileServer({
      apiKey: options.tileApiKey ?? API_KEY,
      latencyMs: options.tileLatencyMs ?? 0,
    });
    closers.push(() => tiles.close());
    return buildWorld(temp, sshd, api, tiles, closers);
  } catch (error) {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    temp.cleanup();
    throw error;
  }
}

function buildWorld(
  temp: ReturnType<typeof makeTempDir>,
  sshd: SshdFixture,
  api: FlightsApiServer,
  tiles: TileServer,
  closers: Array<() => Promise<void>>,
): World {
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
  const env = { OPERATOR_TOOL_API_KEY: API_KEY, OPERATOR_TOOL_FLIGHTS_API_TOKEN: TOKEN, HOME: temp.path };
  return {
    sshd,
    api,
    tiles,
    temp,
    staging,
    companionRoot,
    knownHosts,
    corpus,
    env,
    args,
    run: (extra = [], extraEnv = {}, options = {}) =>
      runOperatorTool(args(extra), {
        env: { ...env, ...extraEnv },
        timeoutMs: options.timeoutMs ?? 90_000,
        ...(options.nodeArgs === undefined ? {} : { nodeArgs: options.nodeArgs }),
      }),
    spawnBuild(extra = [], extraEnv = {}, options = {}) {
      const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
      for (const [key, value] of Object.entries(extraEnv)) {
        if (value === undefined) delete childEnv[key];
        else childEnv[key] = value;
      }
      const child = trackChild(
        spawn(process.execPath, [...(options.nodeArgs ?? []), CLI_PATH, ...args(extra)], {
          env: childEnv,
          stdio: ["ignore", "pipe", "pipe"],
        }),
      );
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
      for (const close of closers.reverse()) await close().catch(() => undefined);
      temp.cleanup();
    },
  };
}

/**
 * A `--remote-command` that runs the real operator-tool, except `compile-engines`,
 * which it replaces. It refuses `session` as an operator-tool from before the
 * companion session would: a session runs compile-engines in its own process,
 * past the replacement, so the build falls back to one command per step.
 */
export function fakeRemote(world: World, name: string, compileEngines: string): string {
  const path = join(world.temp.path, `${name}.sh`);
  writeFileSync(
    path,
    `#!/bin/sh\ncase "$1" in\n  compile-engines) ${compileEngines} ;;\n  session) echo "error: unknown command 'session'" >&2; exit 2 ;;\n  *) exec ${process.execPath} ${CLI_PATH} "$@" ;;\nesac\n`,
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
