import type { CacheBuildReport, CacheBuildRun } from "@operator-tool/cache-build";
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
  remoteCorpus?: string;
}

/** build-cache: every option checked, then the pipeline (@operator-tool/cache-build), then its report. */
export async function buildCacheCommand(
  ctx: CommandContext,
  options: BuildCacheOptions,
): Promise<CommandResult> {
  const flight = await flightSourceFrom(ctx, options);
  const tiles = await tileSettingsFrom(ctx);
  ctx.requireOption("companionHost");
  const remoteCorpus = options.remoteCorpus ?? ctx.option("remoteCorpus");
  if (remoteCorpus === undefined) {
    throw new InvalidArgumentError("no corpus given for the companion", {
      hint: 'pass --remote-corpus FILE (the corpus file on the companion), or set "remoteCorpus" in operator-tool.config.json',
    });
  }

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
        remoteCommand: ctx.option("remoteCommand"),
        companionCacheRoot: ctx.option("companionCacheRoot"),
        remoteCorpus,
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
      r.sync === null
        ? ""
        : `tiles sent ${r.sync.sent} (${formatBytes(r.sync.bytesSent)}), ${r.sync.skipped} already there`,
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
