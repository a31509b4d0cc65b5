import { homedir } from "node:os";
import { resolve } from "node:path";
import type {
  CacheBuildOptions,
  FleetHostReport,
  FleetHostUpdate,
  FleetReport,
  FleetTarget,
} from "@operator-tool/cache-build";
import { InvalidArgumentError } from "@operator-tool/errors";
import { type CompanionSettings, cacheBuildDeps, connectSession } from "../cache-build-deps.js";
import type { CommandResult } from "../command-result.js";
import type { CommandContext } from "../context.js";
import { type InventoryHost, loadInventory, selectHosts } from "../inventory.js";
import { type FlightSelector, type FlightSource, flightSourceFrom } from "../resolve-flight.js";
import { tileSettingsFrom } from "../tile-job.js";

export interface FleetCommandOptions extends FlightSelector {
  dryRun?: boolean;
  force?: boolean;
  allowAbsent?: boolean;
  retryAbsent?: boolean;
  installCompanion?: boolean;
  inventory?: string;
  limit?: string;
  forks?: number;
}

/** A host as the fleet runs it: the pipeline's target and how to connect to it. */
interface ResolvedTarget {
  target: FleetTarget;
  settings: CompanionSettings;
}

/**
 * build-cache for many companions (`--inventory` or `--companion-host a,b,c`):
 * every host resolved from the inventory and checked before anything runs,
 * then @operator-tool/cache-build's fleet, then its recap.
 */
export async function buildFleetCommand(
  ctx: CommandContext,
  options: FleetCommandOptions,
  corpusFrom: () => Promise<CacheBuildOptions["corpus"]>,
): Promise<CommandResult> {
  const hosts = await fleetHosts(ctx, options);
  const everyHostHasFlight = hosts.every((h) => h.vars.flight_id !== undefined);
  const flight: FlightSource | undefined =
    options.flightId === undefined && options.flightFile === undefined && everyHostHasFlight
      ? undefined
      : await flightSourceFrom(ctx, options);
  const tiles = await tileSettingsFrom(ctx);
  let commandCorpus: CacheBuildOptions["corpus"] | undefined;
  const targets: ResolvedTarget[] = [];
  for (const host of hosts) {
    const corpus = await hostCorpus(ctx, host, async () => {
      commandCorpus ??= await corpusFrom();
      return commandCorpus;
    });
    targets.push(targetFrom(ctx, host, corpus));
  }

  const { buildFleet, DEFAULT_FORKS } = await import("@operator-tool/cache-build");
  const deps = await cacheBuildDeps(ctx, {
    flight: flight ?? { kind: "file", path: "" },
    tiles,
    retryAbsent: options.retryAbsent === true,
  });
  const byName = new Map(targets.map((t) => [t.target.name, t]));
  const live = ctx.stderrIsTTY && !ctx.json ? liveStatus(ctx) : undefined;
  const { report, failure } = await buildFleet(
    {
      stagingRoot: tiles.stagingRoot,
      tileDirs: [tiles.providerCacheDir],
      dryRun: options.dryRun === true,
      force: options.force === true,
      allowAbsent: options.allowAbsent === true,
      lockWaitSeconds: ctx.option("lockTimeout"),
      installCompanion: options.installCompanion === true || ctx.option("installCompanion") === true,
      engineMarginBytes: ctx.option("engineMarginMb") * 1024 * 1024,
      targets: targets.map((t) => t.target),
      forks: options.forks ?? DEFAULT_FORKS,
    },
    {
      ...deps,
      async openRunLog(path, companion) {
        if (companion === undefined) ctx.setLogPath(path);
        return ctx.loggerWithFile(path);
      },
      async resolveFlight(flightId, run) {
        const { resolveFlight } = await import("../resolve-flight.js");
        if (flightId !== undefined)
          return resolveFlight(
            ctx,
            { kind: "api", flightId, baseUrl: ctx.requireOption("flightsApiUrl") },
            run,
          );
        if (flight === undefined) throw new Error("no flight for a host without flight_id"); // checked above
        return resolveFlight(ctx, flight, run);
      },
      connectCompanion: (target, run) => connectSession(ctx, run, byName.get(target.name)!.settings),
      ...(live === undefined ? {} : { onHostUpdate: live }),
    },
  );
  return { data: report, text: renderRecap(report), ...(failure === undefined ? {} : { failure }) };
}

/** The selected hosts: from `--inventory` (with `--limit`), or each `--companion-host` entry. */
async function fleetHosts(ctx: CommandContext, options: FleetCommandOptions): Promise<InventoryHost[]> {
  if (options.inventory !== undefined) {
    if (ctx.option("companionHost") !== undefined)
      throw new InvalidArgumentError("--inventory and --companion-host were both given", {
        hint: "give the companions one way: an inventory (with --limit to select), or --companion-host a,b,c",
      });
    const inventory = await loadInventory(resolve(ctx.cwd, options.inventory));
    return selectHosts(inventory, options.limit);
  }
  if (options.limit !== undefined)
    throw new InvalidArgumentError("--limit selects hosts of an inventory, and no --inventory was given", {
      hint: "pass --inventory FILE, or list the companions with --companion-host a,b,c",
    });
  const names = ctx
    .requireOption("companionHost")
    .split(",")
    .map((h) => h.trim());
  if (names.some((n) => n === ""))
    throw new InvalidArgumentError(`--companion-host ${ctx.option("companionHost")} has an empty entry`, {
      hint: "separate companions with single commas: --companion-host jetson-1,jetson-2",
    });
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate !== undefined)
    throw new InvalidArgumentError(`--companion-host names ${duplicate} twice`, {
      hint: "name each companion once",
    });
  return names.map((name) => ({ name, groups: ["all"], vars: {} }));
}

function stringVar(host: InventoryHost, key: string): string | undefined {
  const value = host.vars[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" && typeof value !== "number")
    throw new InvalidArgumentError(`inventory host ${host.name}: ${key} must be a string`, {
      hint: `set ${key}=VALUE on the host or its group`,
    });
  return String(value);
}

function portVar(host: InventoryHost): number | undefined {
  const text = stringVar(host, "ansible_port");
  if (text === undefined) return undefined;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65_535)
    throw new InvalidArgumentError(`inventory host ${host.name}: ansible_port ${text} is not a port`, {
      hint: "ansible_port is a number 1-65535",
    });
  return port;
}

/** The host's corpus: its own (`remote_corpus` on the companion, `corpus` on this workstation), else the command's. */
async function hostCorpus(
  ctx: CommandContext,
  host: InventoryHost,
  commandCorpus: () => Promise<CacheBuildOptions["corpus"]>,
): Promise<CacheBuildOptions["corpus"]> {
  const remote = stringVar(host, "remote_corpus");
  const local = stringVar(host, "corpus");
  if (remote !== undefined && local !== undefined)
    throw new InvalidArgumentError(`inventory host ${host.name} sets both corpus and remote_corpus`, {
      hint: "keep one: corpus (on this workstation, pushed) or remote_corpus (already on the companion)",
    });
  if (remote !== undefined) return { location: "companion", path: remote };
  if (local !== undefined) return { location: "workstation", path: resolve(ctx.cwd, expandHome(local)) };
  return commandCorpus();
}

function targetFrom(
  ctx: CommandContext,
  host: InventoryHost,
  corpus: CacheBuildOptions["corpus"],
): ResolvedTarget {
  const address = stringVar(host, "ansible_host") ?? host.name;
  const port = portVar(host);
  const user = stringVar(host, "ansible_user");
  const identity = stringVar(host, "ansible_ssh_private_key_file");
  const cacheRoot = stringVar(host, "companion_cache_root") ?? ctx.option("companionCacheRoot");
  const lockUser = user ?? ctx.option("companionUser") ?? "";
  const lockPort = port ?? ctx.option("companionPort") ?? 22;
  return {
    target: {
      name: host.name,
      address: `${lockUser}@${address}:${lockPort}`,
      flightId: stringVar(host, "flight_id"),
      companionCacheRoot: cacheRoot,
      corpus,
    },
    settings: {
      connection: {
        host: address,
        port,
        user,
        identityFile: identity === undefined ? undefined : resolve(ctx.cwd, expandHome(identity)),
      },
      cacheRoot,
      remoteCommand: stringVar(host, "remote_command"),
    },
  };
}

function expandHome(path: string): string {
  return path === "~" || path.startsWith("~/") ? `${homedir()}${path.slice(1)}` : path;
}

/** On a terminal: one line per host as its phase changes. */
function liveStatus(ctx: CommandContext): (update: FleetHostUpdate) => void {
  return (update) => {
    if (update.report !== undefined) {
      const r = update.report;
      ctx.err(
        `${r.outcome === "failure" ? "failed" : "ok    "}  ${r.target}${r.outcome === "failure" ? ` (${r.error?.code ?? "?"} in ${r.failurePhase ?? "?"}, exit ${r.exitCode})` : ""}\n`,
      );
      return;
    }
    if (update.status === "running" && update.phase !== "queued")
      ctx.err(`…       ${update.target}: ${update.phase}\n`);
  };
}

/** The recap: one row per host, like Ansible's PLAY RECAP, then the fleet's outcome. */
export function renderRecap(r: FleetReport): string {
  const rows = r.hosts.map((h: FleetHostReport) => [
    h.target,
    h.outcome,
    h.failurePhase ?? "-",
    String(h.sync?.sent ?? 0),
    String(h.engines?.built ?? 0),
    String(h.engines?.imported ?? 0),
    String(h.engines?.reused ?? 0),
    `${(h.totalDurationMs / 1000).toFixed(1)}s`,
    String(h.exitCode),
  ]);
  const header = [
    "host",
    "outcome",
    "phase",
    "tiles sent",
    "built",
    "imported",
    "reused",
    "duration",
    "exit",
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  const flights = r.flights
    .map(
      (f) =>
        `  flight ${f.flightId ?? "?"}: ${f.tilePlan?.total.tiles ?? 0} tiles planned${f.tiles === null ? "" : `, ${f.tiles.fetched} fetched`} (${f.targets.length} companion${f.targets.length === 1 ? "" : "s"})`,
    )
    .join("\n");
  const failures = r.hosts
    .filter((h) => h.error !== null)
    .map((h) => `  ${h.target}: ${h.error!.message.split("\n")[0]}`);
  return [
    `build-cache fleet ${r.dryRun ? "(dry run) " : ""}${r.hosts.length} companions, ${r.forks} at once: ${r.outcome}${r.failurePhase ? ` in ${r.failurePhase}` : ""} (exit ${r.exitCode}, ${(r.totalDurationMs / 1000).toFixed(1)} s)`,
    ...(flights === "" ? [] : [flights]),
    "",
    "RECAP",
    line(header),
    ...rows.map(line),
    ...(failures.length === 0 ? [] : ["", "failures:", ...failures]),
    ...(r.logPath === null ? [] : ["", `log: ${r.logPath}`]),
  ].join("\n");
}
