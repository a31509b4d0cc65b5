import { resolve } from "node:path";
import type { CacheBuildOptions, CacheBuildReport } from "@operator-tool/cache-build";
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
  const { report, failure } = await buildCache(
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
    await cacheBuildDeps(ctx, { flight, tiles, retryAbsent: options.retryAbsent === true }),
  );
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
  if (r.install !== null)
    lines.push(
      `  companion install  ${r.install.outcome === "installed" ? `installed ${r.install.version} (${r.install.filesSent} files sent)` : `${r.install.version} already installed`}`,
    );
  if (r.sync !== null)
    lines.push(`  tile sync          sent ${r.sync.sent}, already there ${r.sync.skipped}`);
  if (r.models !== null)
    lines.push(`  models             sent ${r.models.sent}, already there ${r.models.skipped}`);
  if (r.remote !== null) {
    for (const m of r.remote.results)
      lines.push(
        `  engine             ${m.modelName}: ${m.outcome}${m.reasons.length ? ` (${m.reasons.join(", ")})` : ""}`,
      );
  }
  if (r.logPath !== null) lines.push(`  log                ${r.logPath}`);
  return lines.join("\n");
}
