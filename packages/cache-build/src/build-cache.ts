import { dirname, posix } from "node:path";
import {
  describeFailure,
  type ErrorCode,
  EXIT_CODES,
  type FailureDescription,
  OperatorToolError,
  type OperatorToolErrorOptions,
} from "@operator-tool/errors";
import { acquireBuildLock, type HeldLock } from "./build-lock.js";
import { type PhaseListener, PhaseRunner } from "./phase-runner.js";
import { newRunId, type Phase, RunRecord } from "./run-record.js";
import { checkStagingRoot, removeStaleStagingTempFiles } from "./staging-root.js";
import { type TileDownloadOutcome, type TilePlanSummary, tileDownloadFailure } from "./tile-work.js";

export const CACHE_BUILD_REPORT_SCHEMA = "operator-tool/cache-build-report@1";

/** The one result of a build-cache run: stdout with --json, `report.json` in the run record. */
export interface CacheBuildReport {
  schema: typeof CACHE_BUILD_REPORT_SCHEMA;
  runId: string | null;
  flightId: string | null;
  outcome: "success" | "no-op" | "failure";
  failurePhase: Phase | null;
  error: { code: ErrorCode | "INTERNAL"; class: string; message: string; hint: string | null } | null;
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
  tilePlan: TilePlanSummary | null;
  companion: { host: string; hostKeyFingerprint: string; checks: ReadinessCheckResult[] } | null;
  /** `--install-companion`: what the install did (null when it was not needed or not asked for). */
  install: CompanionInstallSummary | null;
  sync: { planned: number; sent: number; skipped: number; bytesSent: number } | null;
  /** `--corpus`: the corpus and its models pushed from this workstation. */
  models: ModelPushSummary | null;
  remote: EngineReportSummary | null;
  logPath: string | null;
}

/** Validated options: every check an operator's input needs has passed before this is built. */
export interface CacheBuildOptions {
  stagingRoot: string;
  /** Directories under the staging root the tile phase writes: proven writable before anything runs. */
  tileDirs: readonly string[];
  dryRun: boolean;
  /** Rebuild every engine on the companion. */
  force: boolean;
  allowAbsent: boolean;
  lockWaitSeconds: number;
  companionCacheRoot: string;
  /**
   * The models to build: a corpus on this workstation, pushed with its models
   * before compile-engines runs there, or one already on the companion.
   */
  corpus: { location: "workstation" | "companion"; path: string };
  /** Install operator-tool on the companion when it is missing or of another version. */
  installCompanion: boolean;
  /** Room the engines need on the companion beyond the tiles. */
  engineMarginBytes: number;
}

export interface BuildLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** What a phase gets: the run's cancellation (Ctrl-C or a lost lock) and its logger. */
export interface RunContext {
  signal: AbortSignal;
  logger: BuildLogger;
}

export interface BuildFlight {
  id: string;
}

/** A flight's tiles for one provider, as planned. */
export interface TileJobRef {
  /** This provider's local tile cache: the sync sends from it. */
  providerCacheDir: string;
  providerId: string;
  tilesetPath: string;
}

export interface SyncFile {
  path: string;
  bytes: number;
  sha256: string;
}

export interface ReadinessCheckResult {
  name: string;
  ok: boolean;
  observed: string;
  fix: string | undefined;
}

export interface CompanionInstallSummary {
  outcome: "installed" | "unchanged";
  version: string;
  /** The installed `operator-tool` on the companion, which runs the remote phases from then on. */
  wrapper: string;
  filesSent: number;
  bytesSent: number;
}

export interface ModelPushSummary {
  /** The corpus on the companion, its paths rewritten to the pushed models. */
  remoteCorpus: string;
  sent: number;
  skipped: number;
  bytesSent: number;
}

export interface CompanionSession {
  host: string;
  hostKeyFingerprint: string;
  /** False once the connection has dropped (a connection opened ahead may not outlive a long download). */
  readonly connected?: boolean;
  /** How operator-tool runs there (`tiles receive`, `compile-engines` are appended): known after the checks. */
  readonly remoteCommand: string;
  /**
   * The checks, and the error that stops the build when one failed;
   * `toolUnusable` when operator-tool is missing there or of another version.
   */
  checkReadiness(
    requiredBytes: number,
    dryRun: boolean,
  ): Promise<{ checks: ReadinessCheckResult[]; notReady: Error | undefined; toolUnusable: boolean }>;
  /** Installs this workstation's operator-tool there (`companion install`). */
  installTool(signal: AbortSignal): Promise<CompanionInstallSummary>;
  /** Pushes a workstation corpus and its models to the companion's cache root. */
  pushModels(corpusPath: string, signal: AbortSignal): Promise<ModelPushSummary>;
  syncTiles(input: {
    localRoot: string;
    remoteRoot: string;
    files: SyncFile[];
    signal: AbortSignal;
  }): Promise<{ planned: number; sent: number; skipped: number; bytesSent: number }>;
  close(): void;
}

/** What the pipeline reads of the companion's engine report (the report kept is the whole one). */
export interface EngineReportSummary {
  outcome: "success" | "failure";
  summary: { built: number; reused: number; failed: number };
  results: Array<{ modelName: string; outcome: string; reasons: string[] }>;
}

/**
 * The concrete phases, wired by the app. Each is one call into its package;
 * the order, the lock, the record and the decisions between them live here.
 */
export interface CacheBuildDeps<
  F extends BuildFlight = BuildFlight,
  J extends TileJobRef = TileJobRef,
  S extends CompanionSession = CompanionSession,
  R extends EngineReportSummary = EngineReportSummary,
> {
  /** Ctrl-C and SIGTERM. */
  signal: AbortSignal;
  /** The console logger; a run adds its own log file through `openRunLog`. */
  logger: BuildLogger;
  openRunLog(path: string): Promise<BuildLogger>;
  redact(text: string): string;
  redactValue<T>(value: T): T;
  /** Phase 0: the flight, from the Flights API or a file. */
  resolveFlight(run: RunContext): Promise<F>;
  /** The flight's tiles for the provider, planned (no network). */
  planTiles(flight: F, run: RunContext): Promise<J>;
  summarizeTiles(job: J): Promise<TilePlanSummary>;
  downloadTiles(job: J, run: RunContext): Promise<TileDownloadOutcome>;
  /** The tiles the downloaded tileset names, with size and digest; undefined when it is missing. */
  readTileset(job: J): Promise<SyncFile[] | undefined>;
  /** The tileset file itself, as a sync entry. */
  describeFile(path: string, as: string): Promise<SyncFile>;
  /**
   * Opens the companion's connection. Started with the run, before the
   * flight is resolved (it needs nothing from it), so the SSH handshake and
   * the companion's start-up overlap flight-resolve and the tile download;
   * its failure is reported by companion-bringup.
   */
  connectCompanion(run: RunContext): Promise<S>;
  /** Runs `compile-engines ARGS` on the companion, as `session.remoteCommand`, and reads its report. */
  provisionEngines(session: S, args: string[], run: RunContext): Promise<R>;
  /** Each phase as it starts and ends: the app's live view. */
  onPhase?: PhaseListener;
}

/** The downloaded tileset is gone before it could be synced (removed by hand mid-run). */
export class TilesetMissingError extends OperatorToolError {
  constructor(path: string, options?: OperatorToolErrorOptions) {
    super("TILE_SYNC_FAILED", `the tileset ${path} is missing`, {
      hint: "re-run build-cache: it downloads what is missing and writes the tileset again",
      ...options,
    });
  }
}

/** The remote command line: `compile-engines --json` on the companion, never holding a secret. */
/** compile-engines' arguments on the companion (after `session.remoteCommand`). */
export function compileEnginesArgs(options: {
  remoteCorpus: string;
  force: boolean;
  dryRun: boolean;
}): string[] {
  return [
    "compile-engines",
    "--json",
    "--log-format",
    "json",
    "--corpus",
    options.remoteCorpus,
    ...(options.force ? ["--force"] : []),
    ...(options.dryRun ? ["--dry-run"] : []),
  ];
}

/** A report before any phase ran: a failure until the run proves otherwise. */
export function emptyReport(runId: string | null, dryRun: boolean, logPath: string | null): CacheBuildReport {
  return {
    schema: CACHE_BUILD_REPORT_SCHEMA,
    runId,
    flightId: null,
    outcome: "failure",
    failurePhase: null,
    error: null,
    exitCode: EXIT_CODES.INTERNAL,
    dryRun,
    phases: {},
    totalDurationMs: 0,
    tiles: null,
    tilePlan: null,
    companion: null,
    install: null,
    sync: null,
    models: null,
    remote: null,
    logPath,
  };
}

/** No-op: a real run that fetched no tile, installed nothing, sent no file and built no engine. */
export function isNoOp(
  report: Pick<CacheBuildReport, "dryRun" | "tiles" | "install" | "sync" | "models" | "remote">,
): boolean {
  return (
    !report.dryRun &&
    (report.tiles?.fetched ?? 0) === 0 &&
    (report.install === null || report.install.outcome === "unchanged") &&
    (report.sync?.sent ?? 0) === 0 &&
    (report.models?.sent ?? 0) === 0 &&
    (report.remote?.summary.built ?? 0) === 0
  );
}

export interface CacheBuildRun {
  report: CacheBuildReport;
  /** Why the run failed (`internal` when nothing recognised it: a bug, whose stack the caller shows). */
  failure: FailureDescription | undefined;
}

/**
 * build-cache, phase by phase (DESIGN.md): the staging root proven writable,
 * flight-resolve before the lock, then lock → tile-download →
 * companion-bringup (checks + sync) → remote-provision. Every failure becomes
 * the report's error with its phase and exit code; the lock is released and
 * the record finished whatever happens.
 */
export async function buildCache<
  F extends BuildFlight,
  J extends TileJobRef,
  S extends CompanionSession,
  R extends EngineReportSummary,
>(options: CacheBuildOptions, deps: CacheBuildDeps<F, J, S, R>): Promise<CacheBuildRun> {
  const started = performance.now();
  const { dryRun } = options;
  if (!dryRun) await checkStagingRoot(options.stagingRoot, options.tileDirs);
  const runId = dryRun ? null : newRunId();
  const record = runId === null ? undefined : await RunRecord.create(options.stagingRoot, runId);
  const logger = record === undefined ? deps.logger : await deps.openRunLog(record.status.logPath);

  const lockLost = new AbortController();
  const signal = AbortSignal.any([deps.signal, lockLost.signal]);
  const run: RunContext = { signal, logger };
  const report = emptyReport(runId, dryRun, record?.status.logPath ?? null);
  const phases = new PhaseRunner(record, logger, signal, runId, deps.onPhase);

  let lock: HeldLock | undefined;
  let session: S | undefined;
  let failure: FailureDescription | undefined;
  const companion = deps.connectCompanion(run);
  // Awaited in companion-bringup, which reports its failure; a run that ends before then closes it.
  companion.catch(() => undefined);
  try {
    const { flight, job } = await phases.run("flight-resolve", async () => {
      const flight = await deps.resolveFlight(run);
      report.flightId = flight.id;
      if (record !== undefined) record.status.flightId = flight.id;
      return { flight, job: await deps.planTiles(flight, run) };
    });

    if (runId !== null) {
      lock = await phases.run("lock", async () => {
        const held = await acquireBuildLock({
          stagingRoot: options.stagingRoot,
          flightId: flight.id,
          runId,
          waitSeconds: options.lockWaitSeconds,
          onCompromised: (error) => {
            logger.error({ err: error.message }, "build lock compromised: stopping");
            lockLost.abort(error);
          },
          warn: (fields, message) => logger.warn(fields, message),
        });
        // Under the lock, nobody else writes here: remove what killed runs left mid-write.
        const removed = await removeStaleStagingTempFiles(options.stagingRoot, [dirname(job.tilesetPath)]);
        if (removed > 0) logger.info({ removed }, "removed temp files left by killed runs");
        return held;
      });
    }

    await phases.run("tile-download", async () => {
      report.tilePlan = await deps.summarizeTiles(job);
      if (dryRun) return;
      const result = await deps.downloadTiles(job, run);
      report.tiles = { ...result.counts, bytesFetched: result.bytesFetched };
      const failure = tileDownloadFailure(result, options.allowAbsent);
      if (failure !== undefined) throw failure;
    });

    await runCompanionPhases({
      options,
      job,
      report,
      phases,
      run,
      deps,
      connect: async () => {
        const opened = await companion;
        if (opened.connected !== false) return opened;
        // The link dropped while the tiles downloaded (keepalives gave up): connect again.
        opened.close();
        logger.info({}, "the connection to the companion dropped meanwhile; connecting again");
        return deps.connectCompanion(run);
      },
      onSession: (opened) => {
        session = opened;
      },
    });

    report.outcome = isNoOp(report) ? "no-op" : "success";
    report.exitCode = EXIT_CODES.SUCCESS;
  } catch (error) {
    failure = describeFailure(error, { signal });
    report.failurePhase = phases.current ?? null;
    report.outcome = "failure";
    report.exitCode = failure.exitCode;
    report.error = {
      code: failure.code,
      class: failure.className,
      message: deps.redact(failure.message),
      hint: failure.hint ?? null,
    };
    // Debug: the run's log keeps it; the console gets the one `error:` line from the CLI.
    logger.debug({ phase: phases.current, error: report.error, err: error }, "build-cache failed");
  } finally {
    if (session === undefined)
      void companion.then(
        (opened) => opened.close(),
        () => undefined,
      );
    else session.close();
    // A release that fails must not lose the record: the next run reclaims a dead holder's lock.
    await lock
      ?.release()
      .catch((error: unknown) => logger.warn({ err: error }, "could not release the build lock"));
    report.phases = { ...phases.timings };
    report.totalDurationMs = Math.round(performance.now() - started);
    await record?.finish(report.outcome, report.exitCode, deps.redactValue(report));
  }
  return { report, failure };
}

/** What the companion's phases need: the run they are part of, and how to reach this companion. */
export interface CompanionPhasesInput<
  J extends TileJobRef,
  S extends CompanionSession,
  R extends EngineReportSummary,
> {
  options: Pick<
    CacheBuildOptions,
    "dryRun" | "force" | "installCompanion" | "engineMarginBytes" | "companionCacheRoot" | "corpus"
  >;
  job: J;
  report: CacheBuildReport;
  phases: PhaseRunner;
  run: RunContext;
  deps: Pick<CacheBuildDeps<BuildFlight, J, S, R>, "readTileset" | "describeFile" | "provisionEngines">;
  connect(): Promise<S>;
  /** Called as soon as the connection is open, so the caller closes it whatever happens next. */
  onSession(session: S): void;
  /**
   * Runs compile-engines (the fleet wraps it with its engine store); the
   * default is one `compile-engines --json` run on the companion.
   */
  provision?: (session: S, remoteCorpus: string) => Promise<R>;
}

/**
 * One companion's phases: companion-bringup (connect, readiness, install,
 * tile sync, models push) then remote-provision. build-cache runs them once;
 * a fleet runs them per companion, after the shared phases.
 */
export async function runCompanionPhases<
  J extends TileJobRef,
  S extends CompanionSession,
  R extends EngineReportSummary,
>(input: CompanionPhasesInput<J, S, R>): Promise<void> {
  const { options, job, report, phases, run, deps } = input;
  const { dryRun } = options;
  const { signal, logger } = run;
  let wouldInstall = false;
  const session = await phases.run("companion-bringup", async () => {
    const opened = await input.connect();
    input.onSession(opened);
    const requiredBytes = (report.tilePlan?.total.bytesEstimate ?? 0) + options.engineMarginBytes;
    let readiness = await opened.checkReadiness(requiredBytes, dryRun);
    if (readiness.toolUnusable && options.installCompanion && !dryRun) {
      report.install = await opened.installTool(signal);
      logger.info(
        report.install,
        report.install.outcome === "installed"
          ? `installed operator-tool ${report.install.version} on the companion`
          : `operator-tool ${report.install.version} is already installed on the companion`,
      );
      readiness = await opened.checkReadiness(requiredBytes, dryRun);
    }
    report.companion = {
      host: opened.host,
      hostKeyFingerprint: opened.hostKeyFingerprint,
      checks: readiness.checks,
    };
    // A dry run installs nothing: a missing tool that --install-companion would install is not a failure.
    const failedOnlyTool = readiness.checks.every((c) => c.ok || c.name === "operator-tool");
    wouldInstall = dryRun && options.installCompanion && readiness.toolUnusable && failedOnlyTool;
    if (wouldInstall) logger.info({}, "dry run: operator-tool would be installed on the companion");
    else if (readiness.notReady !== undefined) throw readiness.notReady;
    if (!dryRun) {
      const tiles = await deps.readTileset(job);
      if (tiles === undefined) throw new TilesetMissingError(job.tilesetPath);
      const files = [
        ...tiles,
        await deps.describeFile(job.tilesetPath, `tilesets/${posix.basename(job.tilesetPath)}`),
      ];
      const result = await opened.syncTiles({
        localRoot: job.providerCacheDir,
        remoteRoot: posix.join(options.companionCacheRoot, "tiles", job.providerId),
        files,
        signal,
      });
      report.sync = {
        planned: result.planned,
        sent: result.sent,
        skipped: result.skipped,
        bytesSent: result.bytesSent,
      };
      logger.info(report.sync, `tile sync: ${result.sent} sent, ${result.skipped} already there`);
      if (options.corpus.location === "workstation") {
        report.models = await opened.pushModels(options.corpus.path, signal);
        logger.info(
          report.models,
          `models: ${report.models.sent} sent, ${report.models.skipped} already there`,
        );
      }
    }
    return opened;
  });

  // A dry run pushes no models: a workstation corpus has nothing on the companion to decide on yet.
  const remoteCorpus =
    options.corpus.location === "companion" ? options.corpus.path : report.models?.remoteCorpus;
  if (remoteCorpus === undefined || wouldInstall) {
    logger.info(
      {},
      "dry run: no engine decisions asked for (the models or the tool are not on the companion yet)",
    );
  } else {
    await phases.run("remote-provision", async () => {
      if (input.provision !== undefined) {
        report.remote = await input.provision(session, remoteCorpus);
        return;
      }
      const args = compileEnginesArgs({ remoteCorpus, force: options.force, dryRun });
      report.remote = await deps.provisionEngines(session, args, run);
    });
  }
}
