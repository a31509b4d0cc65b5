import { stat } from "node:fs/promises";
import type { CacheBuildDeps, CompanionSession } from "@operator-tool/cache-build";
import type { CompanionConnection } from "@operator-tool/companion-bringup";
import type { PushProgress } from "@operator-tool/companion-installer";
import type { Flight } from "@operator-tool/flights-api";
import type { RemoteEngineReport } from "@operator-tool/remote-provisioner-invoker";
import { checkCompanion, openCompanion } from "./companion.js";
import { companionSources } from "./companion-sources.js";
import type { CommandContext } from "./context.js";
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

export interface WiredSession extends CompanionSession {
  connection: CompanionConnection;
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
  const secrets = Object.fromEntries(
    Object.entries(ctx.secrets).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
  /** A push's files as a live-view row (sent / to send, bytes), and each file to the log. */
  const pushProgress = (row: string, log: (progress: PushProgress) => void) => {
    let sent = 0;
    let bytesSent = 0;
    return (progress: PushProgress) => {
      log(progress);
      if (progress.event !== "sent") return;
      sent++;
      bytesSent += progress.bytes;
      view?.sync(row, { sent, total: progress.toSend, bytesSent });
    };
  };
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
    async connectCompanion(run) {
      const connection = await openCompanion(ctx, run.logger);
      const { user, hostname, port } = connection.target;
      // --remote-command, else what the checks find there (or the wrapper an install writes).
      let remoteCommand = ctx.option("remoteCommand") ?? "operator-tool";
      return {
        connection,
        host: `${user}@${hostname}:${port}`,
        hostKeyFingerprint: connection.hostKeyFingerprint,
        get remoteCommand() {
          return remoteCommand;
        },
        async checkReadiness(requiredBytes) {
          const { data, notReady } = await checkCompanion(ctx, connection, requiredBytes);
          remoteCommand = data.remoteCommand;
          const toolUnusable = data.checks.some((c) => c.name === "operator-tool" && !c.ok);
          return { checks: data.checks, notReady, toolUnusable };
        },
        async installTool(signal) {
          const { ensureCompanionInstalled } = await import("@operator-tool/companion-installer");
          const result = await ensureCompanionInstalled({
            connection,
            version: toolVersion(),
            stagingRoot: ctx.option("stagingRoot"),
            ...companionSources(),
            signal,
            onProgress: pushProgress("install", (progress) =>
              run.logger.debug(progress, `install: ${progress.event} ${progress.path}`),
            ),
          });
          // An explicit --remote-command still wins; else the remote phases run the installed wrapper.
          if (ctx.option("remoteCommand") === undefined) remoteCommand = result.wrapper;
          return {
            outcome: result.outcome,
            version: result.version,
            wrapper: result.wrapper,
            filesSent: result.transfer.sent,
            bytesSent: result.transfer.bytesSent,
          };
        },
        async pushModels(corpusPath, signal) {
          const { pushModels } = await import("@operator-tool/companion-installer");
          const result = await pushModels({
            connection,
            corpusPath,
            companionCacheRoot: ctx.option("companionCacheRoot"),
            signal,
            onProgress: pushProgress("model sync", (progress) =>
              run.logger.debug(progress, `models: ${progress.event} ${progress.path}`),
            ),
          });
          return {
            remoteCorpus: result.remoteCorpusPath,
            sent: result.transfer.sent,
            skipped: result.transfer.skipped,
            bytesSent: result.transfer.bytesSent,
          };
        },
        syncTiles: (sync) =>
          bringup.syncTiles({
            connection,
            remoteCommand,
            ...sync,
            onProgress: (sent, total, bytesSent) => view?.sync("tile sync", { sent, total, bytesSent }),
          }),
        close: () => connection.close(),
      };
    },
    async provisionEngines(session, command, run) {
      const result = await invokeProvisioner({
        exec: (cmd) => session.connection.exec(cmd),
        command,
        secrets,
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
    shellQuote: bringup.shellQuote,
    ...(view === undefined ? {} : { onPhase: (phase, status) => view.phase(phase, status) }),
  };
}
