import { dirname, posix } from "node:path";
import { sha256OfFile } from "@operator-tool/atomic-file";
import {
  describeFailure,
  EXIT_CODES,
  type FailureDescription,
  OperatorToolError,
} from "@operator-tool/errors";
import {
  type BuildFlight,
  type BuildLogger,
  type CacheBuildDeps,
  type CacheBuildOptions,
  type CacheBuildReport,
  type CompanionSession,
  compileEnginesArgs,
  type EngineReportSummary,
  emptyReport,
  isNoOp,
  type RunContext,
  runCompanionPhases,
  type TileJobRef,
} from "./build-cache.js";
import { acquireBuildLock, type HeldLock } from "./build-lock.js";
import { deviceIdentity, EngineStore, identityDigest, type ProbedHost } from "./engine-store.js";
import { PhaseRunner, type PhaseTiming } from "./phase-runner.js";
import { newRunId, type Phase, RunRecord } from "./run-record.js";
import { checkStagingRoot, removeStaleStagingTempFiles } from "./staging-root.js";
import { tileDownloadFailure } from "./tile-work.js";

export const FLEET_REPORT_SCHEMA = "operator-tool/fleet-report@1";
export const DEFAULT_FORKS = 5;

/** One companion of the fleet, its inventory settings resolved. */
export interface FleetTarget {
  /** The inventory name (or the `--companion-host` entry). */
  name: string;
  /** `user@host:port` where known before connecting: names the companion's lock. */
  address: string;
  /** The host's own flight (inventory `flight_id`); undefined: the command's. */
  flightId: string | undefined;
  companionCacheRoot: string;
  corpus: CacheBuildOptions["corpus"];
}

export interface FleetOptions extends Omit<CacheBuildOptions, "companionCacheRoot" | "corpus"> {
  targets: readonly FleetTarget[];
  /** Companions in flight at once. */
  forks: number;
}

/** A session the engine store can move files through. */
export interface FleetSession extends CompanionSession {
  /** Streams a companion file into a local file; returns the bytes' sha256. */
  pullFile(
    remotePath: string,
    localPath: string,
    signal: AbortSignal,
  ): Promise<{ sha256: string; bytes: number }>;
  /** Writes a local file on the companion: a temp file, its sha256 checked there, then renamed into place. */
  pushFile(localPath: string, remotePath: string, sha256: string, signal: AbortSignal): Promise<void>;
}

/** What the fleet reads of compile-engines' report: the host probe and each engine's path. */
export interface FleetEngineReport extends EngineReportSummary {
  host: ProbedHost;
  results: Array<{
    modelName: string;
    outcome: string;
    reasons: string[];
    enginePath: string;
    sha256: string | null;
    /** What the engine is built from, as one digest (absent from older companions). */
    inputsSha256?: string | undefined;
  }>;
}

export interface FleetDeps<
  F extends BuildFlight,
  J extends TileJobRef,
  S extends FleetSession,
  R extends FleetEngineReport,
> extends Omit<CacheBuildDeps<F, J, S, R>, "resolveFlight" | "connectCompanion" | "openRunLog"> {
  /** The flight: the host's own id, or the command's (`--flight-id`/`--flight-file`) when undefined. */
  resolveFlight(flightId: string | undefined, run: RunContext): Promise<F>;
  connectCompanion(target: FleetTarget, run: RunContext): Promise<S>;
  /** A run's own log file; `companion` names the host for a companion's run. */
  openRunLog(path: string, companion: string | undefined): Promise<BuildLogger>;
  /** Each host's phase as it changes: the live per-host status. */
  onHostUpdate?(update: FleetHostUpdate): void;
}

export interface FleetHostUpdate {
  target: string;
  phase: Phase | "queued" | "waiting-for-engine" | "done";
  status: "running" | "done" | "failed";
  /** The host's report, when it is done. */
  report?: FleetHostReport;
}

export interface EngineImport {
  modelName: string;
  /** The companion that built it. */
  sourceHost: string;
  sha256: string;
}

/** One companion's report: build-cache's, plus what the engine store did for it. */
export interface FleetHostReport extends CacheBuildReport {
  target: string;
  engines: { built: number; imported: number; reused: number; failed: number } | null;
  /** Engines this companion received from the store instead of building them. */
  imports: EngineImport[];
  /** Store entries refused (their files disagree): removed, and the engine built here. */
  storeRefused: Array<{ modelName: string; reason: string }>;
}

export interface FleetFlightReport {
  flightId: string | null;
  targets: string[];
  tiles: CacheBuildReport["tiles"];
  tilePlan: CacheBuildReport["tilePlan"];
}

/** `build-cache --json` for a fleet, and the fleet's `report.json`. */
export interface FleetReport {
  schema: typeof FLEET_REPORT_SCHEMA;
  runId: string | null;
  outcome: "success" | "no-op" | "failure";
  /** A shared phase's failure (flight, lock, tiles); a host's failure is in its own report. */
  failurePhase: Phase | null;
  error: CacheBuildReport["error"];
  exitCode: number;
  dryRun: boolean;
  forks: number;
  phases: Partial<Record<Phase, PhaseTiming>>;
  totalDurationMs: number;
  flights: FleetFlightReport[];
  hosts: FleetHostReport[];
  summary: { hosts: number; succeeded: number; failed: number; built: number; imported: number };
  logPath: string | null;
}

export interface FleetRun {
  report: FleetReport;
  failure: FailureDescription | undefined;
}

/** One or more companions failed; each host's code and error are in the report. */
export class FleetHostsFailedError extends OperatorToolError {
  constructor(failed: readonly FleetHostReport[], total: number) {
    const first = failed[0];
    super(
      "FLEET_HOSTS_FAILED",
      `${failed.length} of ${total} companions failed: ${failed
        .map(
          (h) =>
            `${h.target} (${h.error?.code ?? "?"}, exit ${h.exitCode}${h.failurePhase ? ` in ${h.failurePhase}` : ""})`,
        )
        .join(", ")}`,
      {
        hint:
          first?.error?.hint ??
          "each host's error is in the report (--json); re-run with --limit to retry only the failed hosts",
      },
    );
  }
}

/** A companion's lock under the staging root: two operators cannot provision one drone at once. */
export function companionLockName(address: string): string {
  return `companion-${address.replace(/[^A-Za-z0-9._-]/g, "_")}`;
}

interface ResolvedFlight<F, J> {
  key: string;
  flight: F;
  job: J;
  targets: FleetTarget[];
  report: FleetFlightReport;
  timings: Partial<Record<Phase, PhaseTiming>>;
}

/**
 * build-cache for many companions: the flights resolved and their tiles
 * downloaded once, under the staging lock, then each companion's phases
 * (under its own lock, run record and report) for up to `forks` companions at
 * once. A failed or slow companion never stops the others; Ctrl-C stops them
 * all, and every lock is released and every report written on the way out.
 */
export async function buildFleet<
  F extends BuildFlight,
  J extends TileJobRef,
  S extends FleetSession,
  R extends FleetEngineReport,
>(options: FleetOptions, deps: FleetDeps<F, J, S, R>): Promise<FleetRun> {
  const started = performance.now();
  const { dryRun } = options;
  if (!dryRun) await checkStagingRoot(options.stagingRoot, options.tileDirs);
  const runId = dryRun ? null : newRunId();
  const record =
    runId === null ? undefined : await RunRecord.create(options.stagingRoot, runId, { kind: "fleet" });
  const logger = record === undefined ? deps.logger : await deps.openRunLog(record.status.logPath, undefined);
  const lockLost = new AbortController();
  const signal = AbortSignal.any([deps.signal, lockLost.signal]);
  const run: RunContext = { signal, logger };
  const report: FleetReport = {
    schema: FLEET_REPORT_SCHEMA,
    runId,
    outcome: "failure",
    failurePhase: null,
    error: null,
    exitCode: EXIT_CODES.INTERNAL,
    dryRun,
    forks: options.forks,
    phases: {},
    totalDurationMs: 0,
    flights: [],
    hosts: [],
    summary: { hosts: options.targets.length, succeeded: 0, failed: 0, built: 0, imported: 0 },
    logPath: record?.status.logPath ?? null,
  };
  const phases = new PhaseRunner(record, logger, signal, runId);
  const hostReports = new Map<string, FleetHostReport>();
  for (const target of options.targets) {
    hostReports.set(target.name, emptyHostReport(target, dryRun));
    deps.onHostUpdate?.({ target: target.name, phase: "queued", status: "running" });
  }

  let lock: HeldLock | undefined;
  let failure: FailureDescription | undefined;
  const flights: ResolvedFlight<F, J>[] = [];
  /** Hosts whose own phases began: each has its own report, whatever the fleet's end. */
  const startedHosts = new Set<string>();
  try {
    await phases.run("flight-resolve", async () => {
      for (const [key, targets] of groupByFlight(options.targets)) {
        const flight = await deps.resolveFlight(key === "" ? undefined : key, run);
        const job = await deps.planTiles(flight, run);
        const flightReport: FleetFlightReport = {
          flightId: flight.id,
          targets: targets.map((t) => t.name),
          tiles: null,
          tilePlan: null,
        };
        report.flights.push(flightReport);
        flights.push({ key, flight, job, targets, report: flightReport, timings: {} });
        for (const t of targets) hostReports.get(t.name)!.flightId = flight.id;
      }
      if (record !== undefined) record.status.flightId = flights.map((f) => f.flight.id).join(",");
    });

    if (runId !== null) {
      lock = await phases.run("lock", async () => {
        const held = await acquireBuildLock({
          stagingRoot: options.stagingRoot,
          flightId: flights.map((f) => f.flight.id).join(","),
          runId,
          waitSeconds: options.lockWaitSeconds,
          onCompromised: (error) => {
            logger.error({ err: error.message }, "build lock compromised: stopping the fleet");
            lockLost.abort(error);
          },
          warn: (fields, message) => logger.warn(fields, message),
        });
        const removed = await removeStaleStagingTempFiles(options.stagingRoot, [
          ...flights.map((f) => dirname(f.job.tilesetPath)),
          ...(await EngineStore.under(options.stagingRoot).entryDirectories()),
        ]);
        if (removed > 0) logger.info({ removed }, "removed temp files left by killed runs");
        return held;
      });
    }

    await phases.run("tile-download", async () => {
      for (const f of flights) {
        const tileStarted = performance.now();
        f.report.tilePlan = await deps.summarizeTiles(f.job);
        if (!dryRun) {
          const result = await deps.downloadTiles(f.job, run);
          f.report.tiles = { ...result.counts, bytesFetched: result.bytesFetched };
          const tileFailure = tileDownloadFailure(result, options.allowAbsent);
          if (tileFailure !== undefined) throw tileFailure;
        }
        f.timings["tile-download"] = {
          status: "done",
          durationMs: Math.round(performance.now() - tileStarted),
        };
      }
    });

    const store = EngineStore.under(options.stagingRoot);
    const builds = new EngineBuilds();
    const work = flights.flatMap((f) => f.targets.map((target) => ({ target, flight: f })));
    const forks = new Forks(options.forks);
    await Promise.all(
      work.map(async ({ target, flight }) => {
        await forks.take();
        // Ctrl-C while this host waited for a fork: it never starts, and leaves no empty run behind.
        if (signal.aborted) {
          forks.give();
          return;
        }
        startedHosts.add(target.name);
        try {
          const hostReport = hostReports.get(target.name)!;
          hostReport.tilePlan = flight.report.tilePlan;
          hostReport.tiles = flight.report.tiles;
          await runHost({
            target,
            job: flight.job,
            report: hostReport,
            sharedTimings: { ...phases.timings, ...flight.timings },
            options,
            deps,
            signal,
            fleetRunId: runId,
            store,
            builds,
            forks,
          });
        } finally {
          forks.give();
        }
      }),
    );

    const hosts = [...hostReports.values()];
    const failed = hosts.filter((h) => h.outcome === "failure");
    if (failed.length > 0) {
      // Ctrl-C stops every host: the fleet exits as interrupted, not as a host failure.
      signal.throwIfAborted();
      throw new FleetHostsFailedError(failed, hosts.length);
    }
    const fetched = report.flights.reduce((n, f) => n + (f.tiles?.fetched ?? 0), 0);
    report.outcome =
      !dryRun && fetched === 0 && hosts.every((h) => h.outcome === "no-op") ? "no-op" : "success";
    report.exitCode = EXIT_CODES.SUCCESS;
  } catch (error) {
    failure = describeFailure(error, { signal });
    report.outcome = "failure";
    report.exitCode = failure.exitCode;
    report.error = {
      code: failure.code,
      class: failure.className,
      message: deps.redact(failure.message),
      hint: failure.hint ?? null,
    };
    if (failure.code !== "FLEET_HOSTS_FAILED") {
      report.failurePhase = phases.current ?? null;
      // A shared phase failed (or Ctrl-C): hosts that never started carry the fleet's error.
      for (const host of hostReports.values()) {
        if (startedHosts.has(host.target)) continue;
        Object.assign(host, {
          outcome: "failure",
          failurePhase: report.failurePhase,
          exitCode: report.exitCode,
          error: report.error,
        });
      }
    }
    logger.debug({ phase: phases.current, error: report.error, err: error }, "fleet failed");
  } finally {
    // A release that fails must not lose the record: the next run reclaims a dead holder's lock.
    await lock
      ?.release()
      .catch((error: unknown) => logger.warn({ err: error }, "could not release the build lock"));
    report.hosts = [...hostReports.values()];
    report.summary = {
      hosts: report.hosts.length,
      succeeded: report.hosts.filter((h) => h.outcome !== "failure").length,
      failed: report.hosts.filter((h) => h.outcome === "failure").length,
      built: report.hosts.reduce((n, h) => n + (h.engines?.built ?? 0), 0),
      imported: report.hosts.reduce((n, h) => n + (h.engines?.imported ?? 0), 0),
    };
    report.phases = { ...phases.timings };
    report.totalDurationMs = Math.round(performance.now() - started);
    await record?.finish(report.outcome, report.exitCode, deps.redactValue(report));
  }
  return { report, failure };
}

function emptyHostReport(target: FleetTarget, dryRun: boolean): FleetHostReport {
  return {
    ...emptyReport(null, dryRun, null),
    target: target.name,
    engines: null,
    imports: [],
    storeRefused: [],
  };
}

function groupByFlight(targets: readonly FleetTarget[]): Map<string, FleetTarget[]> {
  const groups = new Map<string, FleetTarget[]>();
  for (const t of targets) {
    const key = t.flightId ?? "";
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  return groups;
}

/**
 * The `--forks` slots: a companion takes one to run and gives it back when it
 * ends. One that only waits for an identical companion's engine build gives
 * its slot back meanwhile, so a companion of another kind can start its own
 * build instead of queueing behind the wait. Slots go in the order asked.
 */
class Forks {
  #free: number;
  readonly #queue: Array<() => void> = [];

  constructor(count: number) {
    this.#free = Math.max(1, count);
  }

  async take(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return;
    }
    await new Promise<void>((resolve) => this.#queue.push(resolve));
  }

  give(): void {
    const next = this.#queue.shift();
    if (next !== undefined) next();
    else this.#free++;
  }
}

interface HostInput<
  F extends BuildFlight,
  J extends TileJobRef,
  S extends FleetSession,
  R extends FleetEngineReport,
> {
  target: FleetTarget;
  job: J;
  report: FleetHostReport;
  sharedTimings: Partial<Record<Phase, PhaseTiming>>;
  options: FleetOptions;
  deps: FleetDeps<F, J, S, R>;
  signal: AbortSignal;
  fleetRunId: string | null;
  store: EngineStore;
  builds: EngineBuilds;
  forks: Forks;
}

/** One companion: its lock, record, phases and report. Never throws: every failure is the host's report. */
async function runHost<
  F extends BuildFlight,
  J extends TileJobRef,
  S extends FleetSession,
  R extends FleetEngineReport,
>(input: HostInput<F, J, S, R>): Promise<void> {
  const { target, report, options, deps } = input;
  const started = performance.now();
  const update = (phase: FleetHostUpdate["phase"], status: FleetHostUpdate["status"]) =>
    deps.onHostUpdate?.({ target: target.name, phase, status });
  let record: RunRecord | undefined;
  let lock: HeldLock | undefined;
  let session: S | undefined;
  const lockLost = new AbortController();
  const signal = AbortSignal.any([input.signal, lockLost.signal]);
  let phases: PhaseRunner | undefined;
  try {
    const runId = options.dryRun ? null : newRunId();
    report.runId = runId;
    record =
      runId === null
        ? undefined
        : await RunRecord.create(options.stagingRoot, runId, {
            companion: target.name,
            ...(input.fleetRunId === null ? {} : { fleetRunId: input.fleetRunId }),
          });
    if (record !== undefined) record.status.flightId = report.flightId ?? undefined;
    report.logPath = record?.status.logPath ?? null;
    const logger =
      record === undefined ? deps.logger : await deps.openRunLog(record.status.logPath, target.name);
    const run: RunContext = { signal, logger };
    phases = new PhaseRunner(record, logger, signal, runId, (phase, status) => update(phase, status));
    if (runId !== null) {
      lock = await phases.run("lock", () =>
        acquireBuildLock({
          stagingRoot: options.stagingRoot,
          name: companionLockName(target.address),
          flightId: report.flightId ?? "",
          runId,
          waitSeconds: options.lockWaitSeconds,
          onCompromised: (error) => {
            logger.error(
              { err: error.message, companion: target.name },
              "companion lock compromised: stopping",
            );
            lockLost.abort(error);
          },
          warn: (fields, message) => logger.warn(fields, message),
        }),
      );
    }
    await runCompanionPhases({
      options: { ...options, companionCacheRoot: target.companionCacheRoot, corpus: target.corpus },
      job: input.job,
      report,
      phases,
      run,
      deps,
      connect: () => deps.connectCompanion(target, run),
      onSession: (opened) => {
        session = opened;
      },
      provision: (opened, remoteCorpus) =>
        provisionWithStore({ ...input, session: opened, remoteCorpus, run, update }),
    });
    report.outcome = report.imports.length === 0 && isNoOp(report) ? "no-op" : "success";
    report.exitCode = EXIT_CODES.SUCCESS;
  } catch (error) {
    const failure = describeFailure(error, { signal });
    report.failurePhase = phases?.current ?? null;
    report.outcome = "failure";
    report.exitCode = failure.exitCode;
    report.error = {
      code: failure.code,
      class: failure.className,
      message: deps.redact(failure.message),
      hint: failure.hint ?? null,
    };
  } finally {
    session?.close();
    await lock?.release().catch(() => undefined);
    const own = phases?.timings ?? {};
    report.phases = {
      ...pick(input.sharedTimings, "flight-resolve"),
      ...pick(own, "lock"),
      ...pick(input.sharedTimings, "tile-download"),
      ...pick(own, "companion-bringup"),
      ...pick(own, "remote-provision"),
    };
    report.totalDurationMs = Math.round(performance.now() - started);
    await record?.finish(report.outcome, report.exitCode, deps.redactValue(report)).catch(() => undefined);
    deps.onHostUpdate?.({
      target: target.name,
      phase: "done",
      status: report.outcome === "failure" ? "failed" : "done",
      report,
    });
  }
}

function pick<K extends Phase>(timings: Partial<Record<Phase, PhaseTiming>>, key: K) {
  const value = timings[key];
  return value === undefined ? {} : { [key]: value };
}

/**
 * Which engine each companion identity is building right now: the first
 * companion to need an engine builds it; an identical one waits for that
 * build and imports the result instead of starting its own.
 */
class EngineBuilds {
  readonly #inFlight = new Map<string, Promise<void>>();

  /** Resolves to `claimed` (this host builds it; call the returned release when done) or `settled` (look again). */
  async claimOrWait(
    key: string,
    signal: AbortSignal,
  ): Promise<{ claimed: true; release: () => void } | { claimed: false }> {
    const current = this.#inFlight.get(key);
    if (current !== undefined) {
      await abortable(current, signal);
      return { claimed: false };
    }
    let release!: () => void;
    const done = new Promise<void>((resolve) => {
      release = () => {
        this.#inFlight.delete(key);
        resolve();
      };
    });
    this.#inFlight.set(key, done);
    return { claimed: true, release };
  }

  building(key: string): boolean {
    return this.#inFlight.has(key);
  }
}

function abortable(promise: Promise<void>, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      },
      () => resolve(),
    );
  });
}

/**
 * remote-provision with the engine store: ask compile-engines what it would
 * do (its host probe and each engine's path), give the companion every engine
 * it would build that an identical companion already built (waiting for one
 * being built), run compile-engines (which reuses an imported engine under its
 * own rules, or builds), and keep what it built for the companions after it.
 */
async function provisionWithStore<
  F extends BuildFlight,
  J extends TileJobRef,
  S extends FleetSession,
  R extends FleetEngineReport,
>(
  input: HostInput<F, J, S, R> & {
    session: S;
    remoteCorpus: string;
    run: RunContext;
    update: (phase: FleetHostUpdate["phase"], status: FleetHostUpdate["status"]) => void;
  },
): Promise<R> {
  const { session, remoteCorpus, run, options, deps, report, store, builds, target } = input;
  const { logger, signal } = run;
  const command = (dryRun: boolean) => compileEnginesArgs({ remoteCorpus, force: options.force, dryRun });
  if (options.dryRun) {
    const remote = await deps.provisionEngines(session, command(true), run);
    report.engines = summarize(remote, []);
    return remote;
  }

  const releases: Array<() => void> = [];
  const claimed = new Map<string, string>();
  try {
    // --force rebuilds everywhere: nothing to import, so no plan is asked for.
    if (!options.force) {
      const plan = await deps.provisionEngines(session, command(true), run);
      // Every engine verified in place (the dry run's checks are the real run's, digest included):
      // a second compile-engines run would only say so again.
      if (plan.outcome === "success" && plan.results.every((r) => r.outcome === "would-reuse")) {
        const reused = {
          ...plan,
          dryRun: false,
          results: plan.results.map((r) => ({ ...r, outcome: "reused" })),
          summary: { built: 0, reused: plan.results.length, failed: 0 },
        } as R;
        report.engines = summarize(reused, []);
        return reused;
      }
      const identity = identityDigest(deviceIdentity(plan.host));
      // Claims are held until this companion's build ends: taken in one global order,
      // two companions whose corpora list the same models differently never wait on each other.
      const toBuild = plan.results
        .filter((r) => r.outcome === "would-build")
        .map((result) => {
          const engineFile = posix.basename(result.enginePath);
          const entry = storeKey(identity, result);
          return { result, engineFile, entry, key: `${entry}/${engineFile}` };
        })
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      for (const { result, engineFile, entry, key } of toBuild) {
        for (;;) {
          const found = await store.lookup(entry, engineFile);
          if (found.kind === "hit") {
            try {
              await importEngine(session, found.entry, result.enginePath, signal);
            } catch (error) {
              // The import is a shortcut: without it this companion builds the engine itself.
              if (signal.aborted) throw error;
              logger.warn(
                { model: result.modelName, err: (error as Error).message },
                `${result.modelName}: could not import the engine from the store, building it here: ${(error as Error).message}`,
              );
              break;
            }
            report.imports.push({
              modelName: result.modelName,
              sourceHost: found.entry.source.sourceHost,
              sha256: found.entry.sha256,
            });
            logger.info(
              { model: result.modelName, source: found.entry.source.sourceHost },
              `${result.modelName}: imported the engine ${target.name} needs from ${found.entry.source.sourceHost}`,
            );
            break;
          }
          if (found.kind === "refused") {
            report.storeRefused.push({ modelName: result.modelName, reason: found.reason });
            logger.warn(
              { model: result.modelName, reason: found.reason },
              `${result.modelName}: the stored engine was refused (${found.reason}); building it on ${target.name}`,
            );
          }
          let turn: Awaited<ReturnType<EngineBuilds["claimOrWait"]>>;
          if (builds.building(key)) {
            input.update("waiting-for-engine", "running");
            input.forks.give();
            try {
              turn = await builds.claimOrWait(key, signal);
            } finally {
              await input.forks.take();
            }
          } else turn = await builds.claimOrWait(key, signal);
          if (turn.claimed) {
            releases.push(turn.release);
            claimed.set(result.modelName, engineFile);
            break;
          }
          input.update("remote-provision", "running");
        }
      }
    }

    const remote = await deps.provisionEngines(session, command(false), run);
    for (const result of remote.results) {
      if (result.outcome !== "built" || result.sha256 === null || remote.host === undefined) continue;
      const hostIdentity = storeKey(identityDigest(deviceIdentity(remote.host)), result);
      const engineFile = posix.basename(result.enginePath);
      try {
        await keepEngine(session, store, hostIdentity, engineFile, result, remote.host, target.name, signal);
      } catch (error) {
        // The companion has its engine; only the others lose the shortcut.
        if (signal.aborted) throw error;
        logger.warn(
          { model: result.modelName, err: (error as Error).message },
          `${result.modelName}: could not keep the engine built on ${target.name} in the store: ${(error as Error).message}`,
        );
      }
    }
    report.engines = summarize(remote, report.imports);
    return remote;
  } finally {
    for (const release of releases) release();
  }
}

/**
 * The store entry: the device identity, then the digest of the engine's
 * inputs (ONNX, precision, shapes, builder flags), so that companions with
 * different models never swap engines. A companion too old to report the
 * digest shares one entry per engine name; its compile-engines still checks.
 */
function storeKey(identity: string, result: { inputsSha256?: string | undefined }): string {
  return `${identity}/${result.inputsSha256?.slice(0, 16) ?? "unkeyed"}`;
}

function summarize(remote: FleetEngineReport, imports: readonly EngineImport[]): FleetHostReport["engines"] {
  const imported = remote.results.filter(
    (r) => r.outcome === "reused" && imports.some((i) => i.modelName === r.modelName),
  ).length;
  return {
    built: remote.summary.built,
    imported,
    reused: remote.summary.reused - imported,
    failed: remote.summary.failed,
  };
}

async function importEngine(
  session: FleetSession,
  entry: { enginePath: string; sidecarPath: string; recordPath: string; sha256: string },
  remoteEnginePath: string,
  signal: AbortSignal,
): Promise<void> {
  // The engine first, its build record last: an engine without a record is never reused.
  await session.pushFile(entry.enginePath, remoteEnginePath, entry.sha256, signal);
  await session.pushFile(
    entry.sidecarPath,
    `${remoteEnginePath}.sha256`,
    await sha256OfFile(entry.sidecarPath),
    signal,
  );
  await session.pushFile(
    entry.recordPath,
    `${remoteEnginePath}.build.json`,
    await sha256OfFile(entry.recordPath),
    signal,
  );
}

async function keepEngine(
  session: FleetSession,
  store: EngineStore,
  identity: string,
  engineFile: string,
  result: { enginePath: string; sha256: string | null },
  host: ProbedHost,
  sourceHost: string,
  signal: AbortSignal,
): Promise<void> {
  const { readFile, rm } = await import("node:fs/promises");
  const engineTemp = await store.tempFor(identity, engineFile);
  const sidecarTemp = `${engineTemp}-sidecar`;
  const recordTemp = `${engineTemp}-record`;
  try {
    const pulled = await session.pullFile(result.enginePath, engineTemp, signal);
    await session.pullFile(`${result.enginePath}.sha256`, sidecarTemp, signal);
    await session.pullFile(`${result.enginePath}.build.json`, recordTemp, signal);
    if (pulled.sha256 !== result.sha256)
      throw new Error(
        `the pulled engine hashes to ${pulled.sha256}, the companion reported ${result.sha256}`,
      );
    await store.put(
      identity,
      engineFile,
      {
        engineTemp,
        engineSha256: pulled.sha256,
        sidecarText: await readFile(sidecarTemp, "utf8"),
        recordText: await readFile(recordTemp, "utf8"),
      },
      {
        sourceHost,
        storedAt: new Date().toISOString(),
        identity: deviceIdentity(host),
        engineSha256: pulled.sha256,
      },
    );
  } finally {
    await rm(engineTemp, { force: true });
    await rm(sidecarTemp, { force: true });
    await rm(recordTemp, { force: true });
  }
}
