import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { CommandResult } from "../command-result.js";
import type { CommandContext } from "../context.js";
import type { CacheBuildReport } from "./build-cache.js";

export interface DemoOptions {
  keep?: boolean;
  flightFile?: string;
}

const CLI = fileURLToPath(new URL("../cli.js", import.meta.url));

/**
 * The whole product on loopback, in a temporary directory: a Flights API with
 * a sample flight, a tile server, and a companion reachable over SSH (an
 * in-process ssh2 server running the companion-side commands on a generated
 * ONNX corpus). Runs build-cache twice — everything built, then a no-op —
 * prints what happened, and cleans up (or, with --keep, stays up for you).
 */
export async function demo(ctx: CommandContext, options: DemoOptions): Promise<CommandResult> {
  const helpers = await import("@operator-tool/test-helpers");
  const dir = mkdtempSync(join(tmpdir(), "operator-tool-demo-"));
  const closers: Array<() => Promise<void>> = [];
  const cleanup = async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const token = randomBytes(12).toString("hex");
    const apiKey = randomBytes(12).toString("hex");
    writeFileSync(join(dir, "flights-api-token"), `${token}\n`, { mode: 0o600 });
    writeFileSync(join(dir, "tile-api-key"), `${apiKey}\n`, { mode: 0o600 });
    ctx.redactor.add(token);
    ctx.redactor.add(apiKey);

    const flight =
      options.flightFile === undefined
        ? helpers.sampleFlight("F-DEMO-0001")
        : await flightPayloadFrom(options.flightFile);
    const api = await helpers.startFlightsApi({ flights: [flight], token });
    closers.push(() => api.close());
    const tiles = await helpers.startTileServer({ apiKey, tileBytes: 8_000 });
    closers.push(() => tiles.close());
    const companion = await helpers.startSimulatedCompanion(dir);
    closers.push(() => companion.close());

    const companionRoot = join(dir, "companion");
    mkdirSync(join(companionRoot, "models"), { recursive: true });
    helpers.writeOnnxModel(join(companionRoot, "models", "dinov2_vpr.onnx"), {
      shape: [1, 3, 16, 16],
      scale: 2,
    });
    helpers.writeOnnxModel(join(companionRoot, "models", "lightglue.onnx"), {
      shape: ["batch", 3, 16, 16],
      scale: 3,
    });
    writeFileSync(
      join(companionRoot, "corpus.json"),
      `${JSON.stringify(
        {
          cacheRoot: "engines",
          backbones: [
            {
              modelName: "dinov2_vpr",
              onnxPath: "models/dinov2_vpr.onnx",
              inputName: "input",
              inputShape: [1, 3, 16, 16],
              precision: "fp16",
            },
            {
              modelName: "lightglue",
              onnxPath: "models/lightglue.onnx",
              inputName: "input",
              inputShape: { min: [1, 3, 16, 16], opt: [2, 3, 16, 16], max: [4, 3, 16, 16] },
              precision: "fp16",
            },
          ],
        },
        null,
        2,
      )}\n`,
    );
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
      remoteCommand: `${process.execPath} ${CLI}`,
      remoteCorpus: join(companionRoot, "corpus.json"),
    };
    writeFileSync(join(dir, "operator-tool.config.json"), `${JSON.stringify(config, null, 2)}\n`);

    const say = (line: string) => {
      if (!ctx.json) process.stdout.write(`${line}\n`);
    };
    say(`demo environment in ${dir}`);
    say(`  Flights API   ${api.url} (flight ${flight.id})`);
    say(`  tile server   ${tiles.url}`);
    say(`  companion     ssh ${companion.user}@${companion.host}:${companion.port} (in-process ssh2 server)`);
    const runs: CacheBuildReport[] = [];
    for (const label of ["first run: everything is built", "second run: nothing changed, so nothing to do"]) {
      say(`\n$ operator-tool build-cache --flight-id ${flight.id}    # ${label}`);
      const report = await runBuildCache(dir, flight.id, ctx.signal);
      runs.push(report);
      say(describeRun(report));
    }
    const ok = runs[0]?.outcome === "success" && runs[1]?.outcome === "no-op";
    const where = [
      `\nwhere things are (under ${dir}):`,
      `  staging/tiles/<provider>/     the tile cache (z/x/y) and tilesets/${flight.id}.json`,
      "  staging/runs/<run-id>/       status.json, report.json, log.jsonl of each run",
      "  companion/tiles/<provider>/  the tiles as synced to the companion",
      "  companion/engines/           the engines, their .sha256 sidecars and .build.json records",
      "  operator-tool.config.json    the settings the runs used",
    ];
    for (const line of where) say(line);

    if (options.keep) {
      say(`\nthe environment stays up until Ctrl-C. In another terminal:\n  cd ${dir}`);
      say(`  ${CLI_HINT} build-cache --flight-id ${flight.id}`);
      say(`  ${CLI_HINT} runs watch`);
      say(`  ${CLI_HINT} locks list`);
      say(`  ${CLI_HINT} tiles plan --flight-id ${flight.id}`);
      say("ready");
      await new Promise<void>((resolve) =>
        ctx.signal.addEventListener("abort", () => resolve(), { once: true }),
      );
    }
    return {
      exitCode: ok ? 0 : 1,
      data: { dir, flightId: flight.id, runs, kept: options.keep === true },
      text: ok
        ? `\ndemo finished: first run ${runs[0]!.outcome}, second run ${runs[1]!.outcome}; cleaned up ${dir}`
        : "\ndemo failed; see the reports above",
      ...(ok ? {} : { errorLine: "the demo's build-cache runs did not go as expected" }),
    };
  } finally {
    await cleanup();
  }
}

const CLI_HINT = `node ${CLI}`;

function runBuildCache(dir: string, flightId: string, signal: AbortSignal): Promise<CacheBuildReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [CLI, "build-cache", "--flight-id", flightId, "--json", "--log-level", "warn"],
      {
        cwd: dir,
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    const onAbort = () => child.kill("SIGINT");
    signal.addEventListener("abort", onAbort, { once: true });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d;
    });
    child.on("error", reject);
    child.on("close", () => {
      signal.removeEventListener("abort", onAbort);
      try {
        resolve(JSON.parse(out) as CacheBuildReport);
      } catch {
        reject(new Error(`build-cache printed no report: ${out.slice(0, 200)}`));
      }
    });
  });
}

function describeRun(r: CacheBuildReport): string {
  const engines = r.remote?.results.map((m) => `${m.modelName} ${m.outcome}`).join(", ") ?? "-";
  return [
    `  outcome     ${r.outcome}${r.failurePhase ? ` in ${r.failurePhase}: ${r.error?.message.split("\n")[0]}` : ""} (exit ${r.exitCode}, ${(r.totalDurationMs / 1000).toFixed(1)} s)`,
    `  tiles       ${r.tiles?.fetched ?? 0} fetched, ${r.tiles?.cached ?? 0} already cached`,
    `  tile sync   ${r.sync?.sent ?? 0} sent, ${r.sync?.skipped ?? 0} already on the companion`,
    `  engines     ${engines}`,
  ].join("\n");
}

async function flightPayloadFrom(path: string) {
  const { loadFlightFile } = await import("@operator-tool/flights-api");
  const flight = await loadFlightFile(path);
  return {
    id: flight.id,
    name: flight.name,
    updatedAt: flight.updatedAt ?? new Date().toISOString(),
    takeoff: flight.takeoff,
    waypoints: flight.waypoints,
  };
}
