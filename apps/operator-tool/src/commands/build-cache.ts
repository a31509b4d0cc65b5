import type { CacheBuildReport } from "@operator-tool/cache-build";
import { InvalidArgumentError } from "@operator-tool/errors";
import { cacheBuildDeps } from "../cache-build-deps.js";
import type { CommandResult } from "../command-result.js";
import type { CommandContext } from "../context.js";
import { type FlightSelector, flightSourceFrom } from "../resolve-flight.js";
import { tileSettingsFrom } from "../tile-job.js";

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
  const { report, failure } = await buildCache(
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
    await cacheBuildDeps(ctx, { flight, tiles, retryAbsent: options.retryAbsent === true }),
  );
  return { data: report, text: renderReport(report), ...(failure === undefined ? {} : { failure }) };
}

function renderReport(r: CacheBuildReport): string {
  const lines = [
    `build-cache ${r.dryRun ? "(dry run) " : ""}${r.flightId ?? "?"}: ${r.outcome}${r.failurePhase ? ` in ${r.failurePhase}` : ""} (exit ${r.exitCode}, ${(r.totalDurationMs / 1000).toFixed(1)} s)`,
  ];
  for (const [name, p] of Object.entries(r.phases))
    lines.push(`  ${name.padEnd(18)} ${p.status.padEnd(6)} ${(p.durationMs / 1000).toFixed(2)} s`);
  if (r.tilePlan !== null)
    lines.push(
      `  tiles planned      ${r.tilePlan.total.tiles} (${r.tilePlan.total.cached} cached, ${r.tilePlan.total.toFetch} to fetch)`,
    );
  if (r.tiles !== null)
    lines.push(
      `  tiles              fetched ${r.tiles.fetched}, cached ${r.tiles.cached}, absent ${r.tiles.absent}, failed ${r.tiles.failed}`,
    );
  if (r.companion !== null)
    lines.push(`  companion          ${r.companion.host} (${r.companion.hostKeyFingerprint})`);
  if (r.sync !== null)
    lines.push(`  tile sync          sent ${r.sync.sent}, already there ${r.sync.skipped}`);
  if (r.remote !== null) {
    for (const m of r.remote.results)
      lines.push(
        `  engine             ${m.modelName}: ${m.outcome}${m.reasons.length ? ` (${m.reasons.join(", ")})` : ""}`,
      );
  }
  if (r.logPath !== null) lines.push(`  log                ${r.logPath}`);
  return lines.join("\n");
}
