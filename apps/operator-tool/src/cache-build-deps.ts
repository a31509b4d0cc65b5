import { stat } from "node:fs/promises";
import { join } from "node:path";
import type { CacheBuildDeps, FleetSession } from "@operator-tool/cache-build";
import type { CompanionConnection, CompanionSession, RemoteProcess } from "@operator-tool/companion-bringup";
import type { PushProgress } from "@operator-tool/companion-installer";
import { OperatorToolError } from "@operator-tool/errors";
import type { Flight } from "@operator-tool/flights-api";
import type { RemoteEngineReport } from "@operator-tool/remote-provisioner-invoker";
import { type CompanionOverrides, checkCompanion, openCompanion } from "./companion.js";
import { companionSources } from "./companion-sources.js";
import type { CommandContext, RunScope } from "./context.js";
import type { LiveView, TileProgress } from "./live-view.js";
import { type FlightSource, resolveFlight } from "./resolve-flight.js";
import {
  downloadJobTiles,
  planFlightTiles,
  summarizeTileJob,
  type TileJob,
  type TileSettings,
} from "./tile-job.js";
import { toolVersion } from "./version.js";

export interface WiredSession extends FleetSession {
  connection: CompanionConnection;
  /**
   * Starts `compile-engines ARGS` there: in the companion session when one is
   * open (its process becomes the run), else as its own command.
   */
  startCompileEngines(args: string[]): Promise<RemoteProcess>;
}

/** The concrete package behind each of build-cache's phases. */
export async function cacheBuildDeps(
  ctx: CommandContext,
  input: { flight: FlightSource; tiles: TileSettings; retryAbsent: boolean },
  view?: LiveView,
): Promise<CacheBuildDeps<Flight, TileJob, WiredSession, RemoteEngineReport>> {
  const [bringup, tileDownloader, { invokeProvisioner }] = await Promise.all([
    import("@operator-tool/companion-bringup"),
    import("@operator-tool/tile-downloader"),
    import("@operator-tool/remote-provisioner-invoker"),
  ]);
  return {
    signal: ctx.signal,
    logger: ctx.logger,
    async openRunLog(path) {
      ctx.setLogPath(path);
      return ctx.loggerWithFile(path);
    },
    redact: (text) => ctx.redactor.redact(text),
    redactValue: (value) => ctx.redactor.redactValue(value),
    resolveFlight: (run) => resolveFlight(ctx, input.flight, run),
    planTiles: (flight, run) => planFlightTiles(input.tiles, flight, run),
    summarizeTiles: (job) => summarizeTileJob(job),
    downloadTiles: (job, run) =>
      downloadJobTiles(
        ctx,
        job,
        {
          retryAbsent: input.retryAbsent,
          ...(view === undefined ? {} : { onProgress: (p: TileProgress) => view.tiles(p) }),
        },
        run,
      ),
    async readTileset(job) {
      const tileset = await tileDownloader.readTileset(job.tilesetPath);
      return tileset?.tiles.map((t) => ({ path: t.path, bytes: t.bytes, sha256: t.sha256 }));
    },
    async describeFile(path, as) {
      return { path: as, bytes: (await stat(path)).size, sha256: await tileDownloader.sha256File(path) };
    },
    connectCompanion: (run) => connectSession(ctx, run, { startSessionAhead: true }, view),
    async provisionEngines(session, args, run) {
      const result = await invokeProvisioner({
        exec: () => session.startCompileEngines(args),
        command: `${session.remoteCommand} ${args.map(bringup.shellQuote).join(" ")}`,
        // The companion needs none of the workstation's secrets (flights token, tile key, SSH
        // passphrase): a lost drone must not carry them. An empty object keeps the stdin lifeline.
        secrets: {},
        redact: (text) => ctx.redactor.redact(text),
        logger: run.logger,
        signal: run.signal,
        ...(view === undefined
          ? {}
          : {
              onLine: (stream: "stdout" | "stderr", line: string) =>
                stream === "stderr" && view.remoteLine(line),
            }),
      });
      return result.report;
    },
    ...(view === undefined ? {} : { onPhase: (phase, status) => view.phase(phase, status) }),
  };
}

const digestCaches = new WeakMap<
  CommandContext,
  Promise<import("@operator-tool/atomic-file").FileDigestCache>
>();

/** One companion's settings where a fleet's inventory host sets its own. */
export interface CompanionSettings {
  connection?: CompanionOverrides;
  cacheRoot?: string | undefined;
  remoteCommand?: string | undefined;
  /**
   * Start the companion session as soon as the connection is up, for the
   * readiness checks to find ready: its start-up then overlaps what the run
   * does meanwhile. It only looks (as a dry run does): nothing is created on
   * the companion before the run has a flight and its lock.
   */
  startSessionAhead?: boolean | undefined;
}

/** Connects to a companion and wraps the connection as the pipeline's session. */
export async function connectSession(
  ctx: CommandContext,
  run: RunScope,
  settings: CompanionSettings,
  view?: LiveView,
): Promise<WiredSession> {
  const bringup = await import("@operator-tool/companion-bringup");
  const cacheRoot = settings.cacheRoot ?? ctx.option("companionCacheRoot");
  const explicitRemoteCommand = settings.remoteCommand ?? ctx.option("remoteCommand");
  const connection = await openCompanion(ctx, run.logger, settings.connection);
  let dropped = false;
  void connection.closed.then(() => {
    dropped = true;
  });
  // A start that fails is started again by the checks, which then report why.
  let sessionAhead =
    settings.startSessionAhead === true
      ? bringup
          .startSession(connection, { remoteCommand: explicitRemoteCommand, cacheRoot, dryRun: true })
          .catch(() => undefined)
      : undefined;
  const { user, hostname, port } = connection.target;
  // --remote-command, else what the checks find there (or the wrapper an install writes).
  let remoteCommand = explicitRemoteCommand ?? "operator-tool";
  let installedWrapper: string | undefined;
  // One operator-tool process there answers the build's questions while it is open.
  let companionSession: CompanionSession | undefined;
  const openSession = () => (companionSession?.open === true ? companionSession : undefined);
  /** A push's files as a live-view row (sent / to send, bytes), and each file to the log. */
  const pushProgress = (row: string) => {
    let sent = 0;
    let bytesSent = 0;
    return (progress: PushProgress) => {
      run.logger.debug(progress, `${row}: ${progress.event} ${progress.path}`);
      if (progress.event !== "sent") return;
      sent++;
      bytesSent += progress.bytes;
      view?.sync(row, { sent, total: progress.toSend, bytesSent });
    };
  };
  return {
    connection,
    host: `${user}@${hostname}:${port}`,
    hostKeyFingerprint: connection.hostKeyFingerprint,
    get remoteCommand() {
      return remoteCommand;
    },
    get connected() {
      return !dropped;
    },
    async checkReadiness(requiredBytes, dryRun) {
      companionSession?.close();
      // Only the first check: after an install, a new session of the installed tool.
      const started = sessionAhead;
      sessionAhead = undefined;
      const { data, notReady, session, noSessionReason } = await checkCompanion(
        ctx,
        connection,
        requiredBytes,
        {
          started,
          // After an install, check the installed tool, not an older one the search could find.
          remoteCommand: explicitRemoteCommand ?? installedWrapper,
          cacheRoot,
          dryRun,
          keepSession: true,
        },
      );
      companionSession = session;
      run.logger.debug(
        { reason: noSessionReason },
        session === undefined
          ? `no companion session (${noSessionReason ?? "the tool there is not usable"}): each remote step starts its own operator-tool`
          : "companion session open",
      );
      remoteCommand = data.remoteCommand;
      const toolUnusable = data.checks.some((c) => c.name === "operator-tool" && !c.ok);
      return { checks: data.checks, notReady, toolUnusable };
    },
    async installTool(signal) {
      const { installCompanion } = await import("@operator-tool/companion-installer");
      const result = await installCompanion({
        connection,
        version: toolVersion(),
        stagingRoot: ctx.option("stagingRoot"),
        ...companionSources(),
        signal,
        onProgress: pushProgress("install"),
      });
      // An explicit --remote-command still wins; else the remote phases run the installed wrapper.
      installedWrapper = bringup.shellQuote(result.wrapper);
      if (explicitRemoteCommand === undefined) remoteCommand = installedWrapper;
      return {
        outcome: result.outcome,
        version: result.version,
        wrapper: result.wrapper,
        filesSent: result.transfer.sent,
        bytesSent: result.transfer.bytesSent,
      };
    },
    async pushModels(corpusPath, signal) {
      const [{ pushModels, PUSH_MANIFEST, parsePushedListing }, { FileDigestCache }] = await Promise.all([
        import("@operator-tool/companion-installer"),
        import("@operator-tool/atomic-file"),
      ]);
      const session = openSession();
      // Unchanged models are not read again to learn their digests: the companion's listing decides.
      // One cache per run, shared by a fleet's companions: each model is read at most once.
      let opening = digestCaches.get(ctx);
      if (opening === undefined) {
        opening = FileDigestCache.open(join(ctx.option("stagingRoot"), "file-digests.json"));
        digestCaches.set(ctx, opening);
      }
      const digests = await opening;
      const result = await pushModels({
        connection,
        digests,
        ...(session === undefined
          ? {}
          : {
              listPresent: async (dir: string) =>
                parsePushedListing(await session.listPushed(dir, PUSH_MANIFEST, signal)),
            }),
        corpusPath,
        companionCacheRoot: cacheRoot,
        signal,
        onProgress: pushProgress("model sync"),
      });
      await digests.save().catch((error: unknown) => {
        // Only a cache: the next run reads the models again.
        run.logger.warn(
          { err: (error as Error).message },
          `could not save the model digests: ${(error as Error).message}`,
        );
      });
      return {
        remoteCorpus: result.remoteCorpusPath,
        sent: result.transfer.sent,
        skipped: result.transfer.skipped,
        bytesSent: result.transfer.bytesSent,
      };
    },
    syncTiles: (sync) => {
      const session = openSession();
      return bringup.syncTiles({
        connection,
        remoteCommand,
        ...sync,
        ...(session === undefined ? {} : { listing: () => session.listTiles(sync.remoteRoot, sync.signal) }),
        onProgress: (sent, total, bytesSent) => view?.sync("tile sync", { sent, total, bytesSent }),
      });
    },
    startCompileEngines(args) {
      const session = openSession();
      return session !== undefined
        ? session.handOver(args)
        : connection.exec(`${remoteCommand} ${args.map(bringup.shellQuote).join(" ")}`);
    },
    pullFile: (remotePath, localPath, signal) =>
      pullRemoteFile(connection, bringup.shellQuote, remotePath, localPath, signal),
    pushFile: (localPath, remotePath, sha256, signal) =>
      pushRemoteFile(connection, bringup.shellQuote, localPath, remotePath, sha256, signal),
    close: () => {
      companionSession?.close();
      connection.close();
    },
  };
}

/** Streams a companion file into a local one, hashing it on the way. */
async function pullRemoteFile(
  connection: CompanionConnection,
  shellQuote: (text: string) => string,
  remotePath: string,
  localPath: string,
  signal: AbortSignal,
): Promise<{ sha256: string; bytes: number }> {
  const { createWriteStream } = await import("node:fs");
  const { createHash } = await import("node:crypto");
  const { pipeline } = await import("node:stream/promises");
  const { Transform } = await import("node:stream");
  signal.throwIfAborted();
  const proc = await connection.exec(`cat -- ${shellQuote(remotePath)}`);
  const onAbort = () => proc.close();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    let stderr = "";
    proc.stderr.on("data", (d: Buffer) => {
      stderr += d.toString("utf8");
    });
    proc.stdin.end();
    const hash = createHash("sha256");
    let bytes = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        bytes += chunk.length;
        done(null, chunk);
      },
    });
    await pipeline(proc.stdout, tap, createWriteStream(localPath, { flags: "w", mode: 0o644 }), { signal });
    const exit = await proc.exit;
    if (exit.code !== 0)
      throw new OperatorToolError(
        "MODEL_SYNC_FAILED",
        `reading ${remotePath} on the companion failed: ${stderr.trim() || `exit ${exit.code}`}`,
        { hint: "re-run: an engine that cannot be kept in the store is only built again where needed" },
      );
    return { sha256: hash.digest("hex"), bytes };
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/** Writes a local file on the companion: a temp file beside the target, its sha256 checked there, then renamed. */
async function pushRemoteFile(
  connection: CompanionConnection,
  shellQuote: (text: string) => string,
  localPath: string,
  remotePath: string,
  sha256: string,
  signal: AbortSignal,
): Promise<void> {
  const { createReadStream } = await import("node:fs");
  const { pipeline } = await import("node:stream/promises");
  const { posix } = await import("node:path");
  signal.throwIfAborted();
  const temp = posix.join(
    posix.dirname(remotePath),
    `.${posix.basename(remotePath)}.import-${process.pid}-${Date.now()}`,
  );
  const q = shellQuote;
  const proc = await connection.exec(
    `mkdir -p ${q(posix.dirname(remotePath))} && cat > ${q(temp)} && printf '%s  %s\\n' ${q(sha256)} ${q(temp)} | sha256sum -c --status && mv -f ${q(temp)} ${q(remotePath)} || { rm -f ${q(temp)}; exit 1; }`,
  );
  const onAbort = () => proc.close();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    let stderr = "";
    proc.stderr.on("data", (d: Buffer) => {
      stderr += d.toString("utf8");
    });
    proc.stdout.resume();
    await pipeline(createReadStream(localPath), proc.stdin, { signal });
    const exit = await proc.exit;
    if (exit.code !== 0)
      throw new OperatorToolError(
        "MODEL_SYNC_FAILED",
        `writing ${remotePath} on the companion failed (its sha256 did not verify, or it cannot be written): ${stderr.trim() || `exit ${exit.code}`}`,
        {
          hint: "check the companion's cache root is writable and has room (`companion check`), then re-run",
        },
      );
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
