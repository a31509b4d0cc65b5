import { statSync } from "node:fs";
import { join } from "node:path";
import type { CompanionConnection, ReadinessCheck, SyncResult } from "@operator-tool/companion-bringup";
import type { Flight } from "@operator-tool/flights-api";
import type { Logger } from "@operator-tool/logger";
import type { RemoteEngineReport } from "@operator-tool/remote-provisioner-invoker";
import type { DownloadResult } from "@operator-tool/tile-downloader";
import { acquireBuildLock, type HeldLock, type LockCompromisedError } from "../build-lock.js";
import type { CommandResult } from "../command-result.js";
import { openCompanion } from "../companion.js";
import type { CommandContext } from "../context.js";
import { exitCodeFor } from "../exit-codes.js";
import { type FlightSelector, resolveFlight } from "../resolve-flight.js";
import { newRunId, type Phase, RunRecord } from "../run-record.js";
import { setLogFilePath } from "../runtime.js";
import { prepareTileJob, type TileJob } from "../tile-job.js";
import { toolVersion } from "../version.js";
import { renderChecks } from "./companion-check.js";
import { downloadFailure, runTileDownload } from "./tiles-download.js";
import { summarizePlan, type TilesPlanData } from "./tiles-plan.js";

export interface BuildCacheOptions extends FlightSelector {
  dryRun?: boolean;
  force?: boolean;
  allowAbsent?: boolean;
  remoteCorpus?: string;
}

export const CACHE_BUILD_REPORT_SCHEMA = "operator-tool/cache-build-report@1";

/** The one result of a build-cache run: stdout with --json, `report.json` in the run record. */
export interface CacheBuildReport {
  schema: typeof CACHE_BUILD_REPORT_SCHEMA;
  runId: string | null;
  flightId: string | null;
  outcome: "success" | "no-op" | "failure";
  failurePhase: Phase | null;
  error: { code: string; class: string; message: string; hint: string | null } | null;
  exitCode: number;
  dryRun: boolean;
  phases: Partial<Record<Phase, { status: "done" | "failed"; durationMs: number }>>;
  totalDurationMs: number;
  tiles: {
    planned: number;
    fetched: number;
    cached: number;
    absent: number;
    failed: number;
    bytesFetched: number;
  } | null;
  tilePlan: TilesPlanData | null;
  companion: { host: string; hostKeyFingerprint: string; checks: ReadinessCheck[] } | null;
  sync: Omit<SyncResult, "durationMs"> | null;
  remote: RemoteEngineReport | null;
  logPath: string | null;
}

class PhaseFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly hint: string | undefined,
  ) {
    super(message);
    this.name = "PhaseFailure";
  }
}

/**
 * build-cache, phase by phase (DESIGN.md): flight-resolve before the lock, then
 * lock → tile-download → companion-bringup (checks + sync) → remote-provision →
 * report. Every recognised failure becomes a report with its phase and exit
 * code; the lock is released whatever happens; an unexpected error still
 * writes the report and then surfaces (exit 1).
 */
export async function buildCache(ctx: CommandContext, options: BuildCacheOptions): Promise<CommandResult> {
  const started = performance.now();
  const dryRun = options.dryRun === true;
  const stagingRoot = ctx.option("stagingRoot");
  const runId = dryRun ? null : newRunId();
  const record = runId === null ? undefined : new RunRecord(stagingRoot, runId);
  const logger: Logger = record === undefined ? ctx.logger : await ctx.loggerWithFile(record.status.logPath);
  if (record !== undefined) setLogFilePath(record.status.logPath);

  const lockLost = new AbortController();
  const signal = AbortSignal.any([ctx.signal, lockLost.signal]);
  const report: CacheBuildReport = {
    schema: CACHE_BUILD_REPORT_SCHEMA,
    runId,
    flightId: null,
    outcome: "failure",
    failurePhase: null,
    error: null,
    exitCode: 1,
    dryRun,
    phases: {},
    totalDurationMs: 0,
    tiles: null,
    tilePlan: null,
    companion: null,
    sync: null,
    remote: null,
    logPath: record?.status.logPath ?? null,
  };
  let current: Phase = "flight-resolve";
  const phase = async <T>(name: Phase, work: () => Promise<T>): Promise<T> => {
    current = name;
    signal.throwIfAborted();
    await record?.begin(name);
    logger.info({ phase: name, runId }, `phase ${name}`);
    const t0 = performance.now();
    try {
      const value = await work();
      report.phases[name] = { status: "done", durationMs: Math.round(performance.now() - t0) };
      await record?.end(name, "done", performance.now() - t0);
      return value;
    } catch (error) {
      report.phases[name] = { status: "failed", durationMs: Math.round(performance.now() - t0) };
      await record?.end(name, "failed", performance.now() - t0);
      throw error;
    }
  };

  let lock: HeldLock | undefined;
  let connection: CompanionConnection | undefined;
  let unexpected: unknown;
  try {
    const flight: Flight = await phase("flight-resolve", () => resolveFlight(ctx, options));
    report.flightId = flight.id;
    if (record !== undefined) record.status.flightId = flight.id;
    const job: TileJob = await prepareTileJob(ctx, flight);

    if (!dryRun) {
      lock = await phase("lock", () =>
        acquireBuildLock({
          stagingRoot,
          flightId: flight.id,
          runId: runId!,
          waitSeconds: ctx.option("lockTimeout"),
          onCompromised: (error: LockCompromisedError) => {
            logger.error({ err: error.message }, "build lock compromised: stopping");
            lockLost.abort(error);
          },
          warn: (fields, message) => logger.warn(fields, message),
        }),
      );
    }

    await phase("tile-download", async () => {
      report.tilePlan = await summarizePlan(job);
      if (dryRun) return;
      const result: DownloadResult = await runTileDownload({ ...ctx, logger, signal }, job, options);
      report.tiles = { ...result.counts, bytesFetched: result.bytesFetched };
      const failure = downloadFailure(result, options.allowAbsent === true);
      if (failure !== undefined) throw new PhaseFailure("TILE_DOWNLOAD_FAILED", failure, undefined);
    });

    connection = await phase("companion-bringup", async () => {
      const { checkReadiness, syncTiles } = await import("@operator-tool/companion-bringup");
      const conn = await openCompanion({ ...ctx, logger });
      const checks = await checkReadiness(conn, {
        remoteCommand: ctx.option("remoteCommand"),
        cacheRoot: ctx.option("companionCacheRoot"),
        requiredBytes:
          (report.tilePlan?.total.bytesEstimate ?? 0) + ctx.option("engineMarginMb") * 1024 * 1024,
        localVersion: toolVersion(),
      });
      const host = `${conn.target.user}@${conn.target.hostname}:${conn.target.port}`;
      report.companion = { host, hostKeyFingerprint: conn.hostKeyFingerprint, checks };
      const failed = checks.filter((c) => !c.ok);
      if (failed.length > 0) {
        conn.close();
        throw new PhaseFailure(
          "COMPANION_NOT_READY",
          `companion not ready: ${failed.map((c) => `${c.name} (${c.observed})`).join("; ")}\n${renderChecks({ host, hostKeyFingerprint: conn.hostKeyFingerprint, ready: false, checks })}`,
          failed[0]!.fix,
        );
      }
      if (!dryRun) {
        const { readTileset, sha256File } = await import("@operator-tool/tile-downloader");
        const tileset = await readTileset(job.tilesetPath);
        if (tileset === undefined)
          throw new PhaseFailure(
            "TILE_SYNC_FAILED",
            `the tileset ${job.tilesetPath} is missing`,
            "re-run build-cache",
          );
        const files = [
          ...tileset.tiles.map((t) => ({ path: t.path, bytes: t.bytes, sha256: t.sha256 })),
          {
            path: `tilesets/${flight.id}.json`,
            bytes: statSync(job.tilesetPath).size,
            sha256: await sha256File(job.tilesetPath),
          },
        ];
        const result = await syncTiles({
          connection: conn,
          remoteCommand: ctx.option("remoteCommand"),
          localRoot: job.providerCacheDir,
          remoteRoot: join(ctx.option("companionCacheRoot"), "tiles", job.provider.id),
          files,
          signal,
        });
        const { durationMs: _, ...figures } = result;
        report.sync = figures;
        logger.info(figures, `tile sync: ${result.sent} sent, ${result.skipped} already there`);
      }
      return conn;
    });

    await phase("remote-provision", async () => {
      const { invokeProvisioner } = await import("@operator-tool/remote-provisioner-invoker");
      const { shellQuote } = await import("@operator-tool/companion-bringup");
      const remoteCorpus = options.remoteCorpus ?? ctx.option("remoteCorpus");
      const command = [
        ctx.option("remoteCommand"),
        "compile-engines --json --log-format json",
        remoteCorpus === undefined ? "" : `--corpus ${shellQuote(remoteCorpus)}`,
        options.force ? "--force" : "",
        dryRun ? "--dry-run" : "",
      ]
        .filter(Boolean)
        .join(" ");
      const secrets = Object.fromEntries(
        Object.entries(ctx.secrets).filter(([, v]) => v !== undefined),
      ) as Record<string, string>;
      const result = await invokeProvisioner({
        exec: (cmd) => connection!.exec(cmd),
        command,
        secrets,
        redact: (text) => ctx.redactor.redact(text),
        logger,
        signal,
      });
      report.remote = result.report;
    });

    await phase("report", async () => undefined);
    const noOp =
      !dryRun &&
      (report.tiles?.fetched ?? 0) === 0 &&
      (report.sync?.sent ?? 0) === 0 &&
      (report.remote?.summary.built ?? 0) === 0;
    report.outcome = noOp ? "no-op" : "success";
    report.exitCode = 0;
  } catch (error) {
    const interrupted = ctx.signal.aborted;
    const cause = interrupted
      ? (ctx.signal.reason as Error)
      : lockLost.signal.aborted
        ? (lockLost.signal.reason as Error)
        : (error as Error);
    const code = interrupted
      ? "INTERRUPTED"
      : typeof (cause as { code?: unknown }).code === "string"
        ? (cause as unknown as { code: string }).code
        : undefined;
    report.failurePhase = current;
    report.outcome = "failure";
    if (code === undefined || exitCodeFor(code) === 1) unexpected = error;
    report.exitCode = code === undefined ? 1 : exitCodeFor(code);
    report.error = {
      code: code ?? "INTERNAL",
      class: (cause as Error).name ?? "Error",
      message: ctx.redactor.redact((cause as Error).message ?? String(cause)),
      hint: (cause as { hint?: string }).hint ?? null,
    };
    // Debug: the run's log keeps it; the console gets the one `error:` line from the CLI.
    logger.debug({ phase: current, code: report.error.code, error: report.error }, "build-cache failed");
  } finally {
    connection?.close();
    await lock?.release();
    report.totalDurationMs = Math.round(performance.now() - started);
    await record?.finish(report.outcome, report.exitCode, ctx.redactor.redactValue(report));
  }
  if (unexpected !== undefined) throw unexpected;
  const firstLine = report.error?.message.split("\n")[0];
  return {
    exitCode: report.exitCode,
    data: report,
    text: renderReport(report),
    ...(report.error === null
      ? {}
      : { errorLine: `${firstLine}${report.error.hint ? ` — ${report.error.hint}` : ""}` }),
  };
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
