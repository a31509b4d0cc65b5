import { resolve } from "node:path";
import type { CacheBuildOptions, CacheBuildReport, CacheBuildRun } from "@operator-tool/cache-build";
import { InvalidArgumentError } from "@operator-tool/errors";
import { cacheBuildDeps } from "../cache-build-deps.js";
import type { CommandResult } from "../command-result.js";
import type { CommandContext } from "../context.js";
import { LiveView } from "../live-view.js";
import { type FlightSelector, flightSourceFrom } from "../resolve-flight.js";
import { tileSettingsFrom } from "../tile-job.js";
import { formatBytes } from "../units.js";

export interface BuildCacheOptions extends FlightSelector {
  dryRun?: boolean;
  force?: boolean;
  allowAbsent?: boolean;
  retryAbsent?: boolean;
  corpus?: string;
  remoteCorpus?: string;
  installCompanion?: boolean;
  inventory?: string;
  limit?: string;
  forks?: number;
}

/** build-cache: every option checked, then the pipeline (@operator-tool/cache-build), then its report. */
export async function buildCacheCommand(
  ctx: CommandContext,
  options: BuildCacheOptions,
): Promise<CommandResult> {
  // Many companions (an inventory, or --companion-host a,b,c): the fleet.
  if (
    options.inventory !== undefined ||
    options.limit !== undefined ||
    options.forks !== undefined ||
    (ctx.option("companionHost") ?? "").includes(",")
  ) {
    const { buildFleetCommand } = await import("./build-fleet.js");
    return buildFleetCommand(ctx, options, () => corpusFrom(ctx, options));
  }
  const flight = await flightSourceFrom(ctx, options);
  const tiles = await tileSettingsFrom(ctx);
  ctx.requireOption("companionHost");
  const corpus = await corpusFrom(ctx, options);

  const { buildCache } = await import("@operator-tool/cache-build");
  const view = new LiveView(ctx.terminal, ctx.logger);
  view.start();
  // Ctrl-C: the area goes first, so "stopping…" and what follows print on a clean screen.
  ctx.signal.addEventListener("abort", () => view.stop(), { once: true });
  let run: CacheBuildRun;
  try {
    run = await buildCache(
      {
        stagingRoot: tiles.stagingRoot,
        tileDirs: [tiles.providerCacheDir],
        dryRun: options.dryRun === true,
        force: options.force === true,
        allowAbsent: options.allowAbsent === true,
        lockWaitSeconds: ctx.option("lockTimeout"),
        companionCacheRoot: ctx.option("companionCacheRoot"),
        corpus,
        installCompanion: options.installCompanion === true || ctx.option("installCompanion") === true,
        engineMarginBytes: ctx.option("engineMarginMb") * 1024 * 1024,
      },
      await cacheBuildDeps(ctx, { flight, tiles, retryAbsent: options.retryAbsent === true }, view),
    );
  } finally {
    view.stop();
  }
  const { report, failure } = run;
  return { data: report, text: renderReport(report), ...(failure === undefined ? {} : { failure }) };
}

/**
 * Exactly one corpus: on this workstation (`--corpus`, checked here with its
 * models, before anything runs) or already on the companion (`--remote-corpus`).
 * A flag wins over the config file's key.
 */
async function corpusFrom(
  ctx: CommandContext,
  options: BuildCacheOptions,
): Promise<CacheBuildOptions["corpus"]> {
  if (options.corpus !== undefined && options.remoteCorpus !== undefined) {
    throw new InvalidArgumentError("--corpus and --remote-corpus were both given", {
      hint: "give --corpus for a corpus on this workstation (pushed with its models), or --remote-corpus for one already on the companion",
    });
  }
  const fromFlags = options.corpus !== undefined || options.remoteCorpus !== undefined;
  const local = fromFlags ? options.corpus : ctx.option("corpus");
  const remote = fromFlags ? options.remoteCorpus : ctx.option("remoteCorpus");
  if (local !== undefined && remote !== undefined) {
    throw new InvalidArgumentError('the config file sets both "corpus" and "remoteCorpus"', {
      hint: "keep one: corpus (on this workstation, pushed with its models) or remoteCorpus (already on the companion)",
    });
  }
  if (remote !== undefined) return { location: "companion", path: remote };
  if (local === undefined) {
    throw new InvalidArgumentError("no corpus given", {
      hint: 'pass --corpus FILE (a corpus on this workstation, pushed with its models) or --remote-corpus FILE (one already on the companion), or set "corpus" in operator-tool.config.json',
    });
  }
  const { loadCorpus, missingModelFiles, ModelInvalidError } = await import("@operator-tool/engine-compiler");
  const path = resolve(ctx.cwd, local);
  const missing = missingModelFiles(await loadCorpus(path));
  const first = missing[0];
  if (first !== undefined) {
    throw new ModelInvalidError(
      first.modelName,
      `model ${first.modelName}: ${first.field} ${first.path} does not exist${missing.length > 1 ? ` (and ${missing.length - 1} more missing)` : ""}`,
      { hint: `fix the path in ${path}: --corpus models are pushed from this workstation` },
    );
  }
  return { location: "workstation", path };
}

/** The summary table: one row per phase, what it did, how long it took. */
export function renderReport(r: CacheBuildReport): string {
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const detail: Record<string, string> = {
    "flight-resolve": r.flightId ?? "",
    lock: r.runId === null ? "" : `run ${r.runId}`,
    "tile-download":
      r.tiles !== null
        ? `${r.tiles.fetched} fetched (${formatBytes(r.tiles.bytesFetched)}), ${r.tiles.cached} cached, ${r.tiles.absent} absent, ${r.tiles.failed} failed`
        : r.tilePlan !== null
          ? `${r.tilePlan.total.tiles} planned (${r.tilePlan.total.cached} cached, ${r.tilePlan.total.toFetch} to fetch)`
          : "",
    "companion-bringup": [
      r.companion === null ? "" : r.companion.host,
      r.install === null
        ? ""
        : r.install.outcome === "installed"
          ? `installed operator-tool ${r.install.version} (${formatBytes(r.install.bytesSent)})`
          : "",
      r.sync === null
        ? ""
        : `tiles sent ${r.sync.sent} (${formatBytes(r.sync.bytesSent)}), ${r.sync.skipped} already there`,
      r.models === null
        ? ""
        : `models sent ${r.models.sent} (${formatBytes(r.models.bytesSent)}), ${r.models.skipped} already there`,
    ]
      .filter(Boolean)
      .join("; "),
    "remote-provision":
      r.remote === null
        ? ""
        : r.remote.results
            .map((m) => `${m.modelName} ${m.outcome}${m.reasons.length ? ` (${m.reasons.join(", ")})` : ""}`)
            .join("; ") || "no models",
  };
  const rows = Object.entries(r.phases).map(([name, p]) => [
    name,
    p.status,
    seconds(p.durationMs),
    detail[name] ?? "",
  ]);
  const header = ["phase", "status", "time", "detail"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    `  ${cells
      .map((c, i) => (i === 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd()}`;
  const lines = [
    `build-cache ${r.dryRun ? "(dry run) " : ""}${r.flightId ?? "?"}: ${r.outcome}${r.failurePhase ? ` in ${r.failurePhase}` : ""} (exit ${r.exitCode}, ${seconds(r.totalDurationMs)})`,
    "",
    line(header),
    ...rows.map(line),
  ];
  if (r.companion !== null) lines.push("", `  companion host key ${r.companion.hostKeyFingerprint}`);
  if (r.logPath !== null) lines.push(`  log                ${r.logPath}`);
  return lines.join("\n");
}
