import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { CacheBuildReport } from "@operator-tool/cache-build";
import { describeFailure } from "@operator-tool/errors";
import type { CommandResult } from "../command-result.js";
import type { CommandContext } from "../context.js";

export interface DemoOptions {
  keep?: boolean;
  flightFile?: string;
}

const CLI = fileURLToPath(new URL("../cli.js", import.meta.url));
const CLI_HINT = `node ${CLI}`;

/** What the demo's companion is, and what a real one does differently. */
const DEMO_COMPANION_NOTE = [
  "about the engines: a real companion (a Jetson) builds TensorRT engines with trtexec for its own",
  "GPU, JetPack and TensorRT. This demo's companion is this machine, which has no TensorRT, so the same",
  "compile-engines builds onnxruntime-optimised models for this CPU instead (named like",
  "dinov2_vpr__cpu-x64_ort1.30_fp32.onnx): the same decisions, cache, sidecars and report, another builder.",
];

/**
 * The whole product on loopback, in a temporary directory
 * (@operator-tool/demo-environment): a Flights API with a sample flight, a
 * tile server, and a companion reachable over SSH. Runs build-cache twice —
 * everything built, then a no-op — prints what happened, and cleans up (or,
 * with --keep, stays up for you).
 */
export async function demo(ctx: CommandContext, options: DemoOptions): Promise<CommandResult> {
  const { startDemoEnvironment } = await import("@operator-tool/demo-environment");
  const flight = options.flightFile === undefined ? undefined : await flightPayloadFrom(options.flightFile);
  const dir = mkdtempSync(join(tmpdir(), "operator-tool-demo-"));
  try {
    const env = await startDemoEnvironment({ dir, ...(flight === undefined ? {} : { flight }) });
    try {
      for (const secret of env.secrets) ctx.redactor.add(secret);
      const say = (line: string) => {
        if (!ctx.json) ctx.out(`${line}\n`);
      };
      say(
        `demo environment in ${dir} ${options.keep ? "(kept until Ctrl-C)" : "(removed at the end; `operator-tool demo --keep` keeps it up to look around)"}`,
      );
      say(`  Flights API   ${env.api.url} (flight ${env.flightId})`);
      say(`  tile server   ${env.tiles.url}`);
      say(
        `  companion     ssh ${env.companion.user}@${env.companion.host}:${env.companion.port} (in-process ssh2 server; starts without operator-tool)`,
      );
      say("");
      for (const line of DEMO_COMPANION_NOTE) say(line);
      const runs: CacheBuildReport[] = [];
      for (const label of [
        "first run: operator-tool installed on the companion, models pushed, everything built",
        "second run: nothing changed, so nothing to do",
      ]) {
        say(`\n$ operator-tool build-cache --flight-id ${env.flightId}    # ${label}`);
        const report = await runBuildCache(dir, env.flightId, ctx.signal);
        runs.push(report);
        say(describeRun(report));
      }
      const ok = runs[0]?.outcome === "success" && runs[1]?.outcome === "no-op";
      const where = [
        `\nwhere things are (under ${dir}, kept until Ctrl-C):`,
        `  staging/tiles/<provider>/     the tile cache (z/x/y) and tilesets/${env.flightId}.json`,
        "  staging/runs/<run-id>/       status.json, report.json, log.jsonl of each run",
        "  models/                      the corpus and ONNX models on this workstation",
        "  companion-home/.local/       operator-tool as installed on the companion (companion install)",
        "  companion/tiles/<provider>/  the tiles as synced to the companion",
        "  companion/models/            the corpus and models as pushed to the companion",
        "  companion/engines/           the engines, their .sha256 sidecars and .build.json records",
        "  operator-tool.config.json    the settings the runs used",
      ];
      if (options.keep) {
        for (const line of where) say(line);
        say(`\nthe environment stays up until Ctrl-C. In another terminal:\n  cd ${dir}`);
        say(`  ${CLI_HINT} build-cache --flight-id ${env.flightId}`);
        say(`  ${CLI_HINT} runs watch`);
        say(`  ${CLI_HINT} locks list`);
        say(`  ${CLI_HINT} tiles plan --flight-id ${env.flightId}`);
        say("ready");
        await new Promise<void>((resolve) => {
          if (ctx.signal.aborted) resolve();
          else ctx.signal.addEventListener("abort", () => resolve(), { once: true });
        });
      }
      const data = { dir, flightId: env.flightId, runs, kept: options.keep === true };
      if (ok)
        return {
          data,
          text: `\ndemo finished: first run ${runs[0]!.outcome}, second run ${runs[1]!.outcome}; cleaned up ${dir}`,
        };
      return {
        data,
        text: "\ndemo failed; see the reports above",
        failure: describeFailure(
          new Error(
            `the demo's build-cache runs did not go as expected: first ${runs[0]?.outcome}, second ${runs[1]?.outcome}`,
          ),
        ),
      };
    } finally {
      await env.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function runBuildCache(dir: string, flightId: string, signal: AbortSignal): Promise<CacheBuildReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [CLI, "build-cache", "--flight-id", flightId, "--json", "--log-level", "warn"],
      { cwd: dir, stdio: ["ignore", "pipe", "inherit"] },
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
  const host = (r.remote as { host?: { backend?: string; arch?: string; ort?: string | null } } | null)?.host;
  const builtWith =
    host === undefined
      ? []
      : host.backend === "tensorrt"
        ? ["  built with  TensorRT (trtexec)"]
        : [
            `  built with  onnxruntime${host.ort ? ` ${host.ort}` : ""} on this CPU (${host.arch ?? process.arch}); a Jetson would build TensorRT engines`,
          ];
  return [
    `  outcome     ${r.outcome}${r.failurePhase ? ` in ${r.failurePhase}: ${r.error?.message.split("\n")[0]}` : ""} (exit ${r.exitCode}, ${(r.totalDurationMs / 1000).toFixed(1)} s)`,
    `  tiles       ${r.tiles?.fetched ?? 0} fetched, ${r.tiles?.cached ?? 0} already cached`,
    `  install     ${r.install === null ? "-" : r.install.outcome === "installed" ? `operator-tool ${r.install.version} installed (${r.install.filesSent} files)` : "already installed"}`,
    `  tile sync   ${r.sync?.sent ?? 0} sent, ${r.sync?.skipped ?? 0} already on the companion`,
    `  models      ${r.models?.sent ?? 0} sent, ${r.models?.skipped ?? 0} already on the companion`,
    `  engines     ${engines}`,
    ...builtWith,
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
