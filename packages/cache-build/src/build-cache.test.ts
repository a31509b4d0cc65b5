import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EXIT_CODES, InterruptedError, OperatorToolError } from "@operator-tool/errors";
import { makeTempDir } from "@operator-tool/test-helpers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  type BuildLogger,
  buildCache as buildCacheUnchecked,
  type CacheBuildDeps,
  type CacheBuildOptions,
  type CompanionSession,
  compileEnginesArgs,
} from "./build-cache.js";
import { cacheBuildReportSchema } from "./report-schema.js";
import { listRuns } from "./run-record.js";

/** Every report these tests see is also checked against the published schema (docs/schemas/). */
const buildCache: typeof buildCacheUnchecked = async (options, deps) => {
  const run = await buildCacheUnchecked(options, deps);
  const parsed = cacheBuildReportSchema.safeParse(JSON.parse(JSON.stringify(run.report)));
  if (!parsed.success) throw new Error(`report does not match its schema: ${parsed.error.message}`);
  return run;
};

/**
 * The pipeline's own decisions, with each phase a plain function: which phase
 * failed, what the report says, that the lock and the record are finished
 * whatever happens. The phases themselves are tested end to end in tests/.
 */
let temp: ReturnType<typeof makeTempDir>;
beforeEach(() => {
  temp = makeTempDir();
});
afterEach(() => temp.cleanup());

const quiet: BuildLogger = { debug() {}, info() {}, warn() {}, error() {} };
const options = (): CacheBuildOptions => ({
  stagingRoot: join(temp.path, "staging"),
  tileDirs: [join(temp.path, "staging", "tiles", "p")],
  dryRun: false,
  force: false,
  allowAbsent: false,
  lockWaitSeconds: 0,
  companionCacheRoot: "/var/cache/operator-tool",
  corpus: { location: "companion", path: "/opt/corpus.json" },
  installCompanion: false,
  engineMarginBytes: 0,
});

function deps(overrides: Partial<CacheBuildDeps> = {}, calls: string[] = []): CacheBuildDeps {
  const tilesetPath = join(temp.path, "staging", "tiles", "p", "tilesets", "F-1.json");
  const session: CompanionSession = {
    host: "ops@jetson:22",
    hostKeyFingerprint: "SHA256:x",
    remoteCommand: "operator-tool",
    async checkReadiness() {
      calls.push("readiness");
      return {
        checks: [{ name: "operator-tool", ok: true, observed: "0.1.0", fix: undefined }],
        notReady: undefined,
        toolUnusable: false,
      };
    },
    async installTool() {
      calls.push("install");
      return {
        outcome: "installed",
        version: "0.1.0",
        wrapper: "/home/ops/.local/bin/operator-tool",
        filesSent: 9,
        bytesSent: 1,
      };
    },
    async pushModels(corpusPath) {
      calls.push(`models ${corpusPath}`);
      return {
        remoteCorpus: "/var/cache/operator-tool/models/corpus.json",
        sent: 0,
        skipped: 2,
        bytesSent: 0,
      };
    },
    async syncTiles({ files }) {
      calls.push(`sync ${files.length}`);
      return { planned: files.length, sent: 0, skipped: files.length, bytesSent: 0 };
    },
    close() {
      calls.push("close");
    },
  };
  return {
    signal: new AbortController().signal,
    logger: quiet,
    openRunLog: async () => quiet,
    redact: (text) => text,
    redactValue: (value) => value,
    async resolveFlight() {
      calls.push("resolve");
      return { id: "F-1" };
    },
    planTiles: async () => ({
      providerCacheDir: join(temp.path, "staging", "tiles", "p"),
      providerId: "p",
      tilesetPath,
    }),
    summarizeTiles: async () => ({
      flightId: "F-1",
      provider: "p",
      coverage: "corridor",
      bufferM: 0,
      cacheDir: "",
      zooms: [],
      total: { tiles: 1, cached: 1, absent: 0, toFetch: 0, bytesEstimate: 0 },
    }),
    async downloadTiles() {
      calls.push("download");
      return {
        outcome: "complete",
        counts: { planned: 1, fetched: 0, cached: 1, absent: 0, failed: 0 },
        bytesFetched: 0,
        failedTiles: [],
      };
    },
    readTileset: async () => [{ path: "1/0/0.png", bytes: 3, sha256: "a".repeat(64) }],
    describeFile: async (_path, as) => ({ path: as, bytes: 2, sha256: "b".repeat(64) }),
    async connectCompanion() {
      calls.push("connect");
      return session;
    },
    async provisionEngines(session, args) {
      calls.push(`provision ${session.remoteCommand} ${args.join(" ")}`);
      return { outcome: "success", summary: { built: 0, reused: 1, failed: 0 }, results: [] };
    },
    ...overrides,
  };
}

describe("buildCache", () => {
  it("runs the phases in order; nothing fetched, sent or built is a no-op; the lock is gone after", async () => {
    const calls: string[] = [];
    const { report, failure } = await buildCache(options(), deps({}, calls));
    expect(failure).toBeUndefined();
    expect(report).toMatchObject({ outcome: "no-op", exitCode: EXIT_CODES.SUCCESS, failurePhase: null });
    expect(Object.keys(report.phases)).toEqual([
      "flight-resolve",
      "lock",
      "tile-download",
      "companion-bringup",
      "remote-provision",
    ]);
    // The connection is opened ahead, alongside flight-resolve; the companion is asked nothing before its phase.
    expect(calls).toEqual([
      "connect",
      "resolve",
      "download",
      "readiness",
      "sync 2",
      "provision operator-tool compile-engines --json --log-format json --corpus /opt/corpus.json",
      "close",
    ]);
    expect(existsSync(join(temp.path, "staging", "build.lock"))).toBe(false);
    const [run] = listRuns(join(temp.path, "staging"));
    expect(run!.status).toMatchObject({ outcome: "no-op", exitCode: EXIT_CODES.SUCCESS, flightId: "F-1" });
    expect(run!.status!.transitions).toHaveLength(10);
  });

  it("a run that fails before the companion's phase closes the connection opened ahead", async () => {
    const calls: string[] = [];
    const { report } = await buildCache(
      options(),
      deps(
        {
          async resolveFlight() {
            throw new OperatorToolError("FLIGHT_NOT_FOUND", "no flight F-1");
          },
        },
        calls,
      ),
    );
    expect(report).toMatchObject({ failurePhase: "flight-resolve", error: { code: "FLIGHT_NOT_FOUND" } });
    await vi.waitFor(() => expect(calls).toEqual(["connect", "close"]));
  });

  it("a companion that cannot be reached fails companion-bringup, after the tiles, not before", async () => {
    const calls: string[] = [];
    const { report } = await buildCache(
      options(),
      deps(
        {
          async connectCompanion() {
            calls.push("connect");
            throw new OperatorToolError("COMPANION_UNREACHABLE", "connection refused");
          },
        },
        calls,
      ),
    );
    expect(report).toMatchObject({
      failurePhase: "companion-bringup",
      error: { code: "COMPANION_UNREACHABLE" },
    });
    expect(calls).toEqual(["connect", "resolve", "download"]);
  });

  it("a flight that fails wins over a companion that cannot be reached: its error, its phase", async () => {
    const calls: string[] = [];
    const { report } = await buildCache(
      options(),
      deps(
        {
          async resolveFlight() {
            throw new OperatorToolError("FLIGHT_NOT_FOUND", "no flight F-1");
          },
          async connectCompanion() {
            calls.push("connect");
            throw new OperatorToolError("COMPANION_UNREACHABLE", "connection refused");
          },
        },
        calls,
      ),
    );
    expect(report).toMatchObject({ failurePhase: "flight-resolve", error: { code: "FLIGHT_NOT_FOUND" } });
  });

  it("a connection opened ahead that dropped during the download is opened again", async () => {
    const calls: string[] = [];
    const base = deps({}, calls);
    let opened = 0;
    const { report } = await buildCache(
      options(),
      deps(
        {
          async connectCompanion(run) {
            const session = await base.connectCompanion(run);
            opened++;
            // The first one's keepalives gave up while the tiles downloaded.
            return Object.assign(session, { connected: opened > 1 });
          },
        },
        calls,
      ),
    );
    expect(report.outcome).toBe("no-op");
    expect(calls.slice(0, 5)).toEqual(["connect", "resolve", "download", "close", "connect"]);
    expect(calls.filter((c) => c === "close")).toHaveLength(2);
  });

  it("a staging root it cannot write fails before the flight is asked for, with no record", async () => {
    writeFileSync(join(temp.path, "staging"), "a file");
    const calls: string[] = [];
    await expect(buildCache(options(), deps({}, calls))).rejects.toMatchObject({ code: "PATH_UNUSABLE" });
    expect(calls).toEqual([]);
  });

  it("a companion that is not ready fails companion-bringup with its error and its checks in the report", async () => {
    const notReady = new OperatorToolError("COMPANION_NOT_READY", "companion not ready: free-space (1 GiB)", {
      hint: "free space",
    });
    const base = deps();
    const { report, failure } = await buildCache(
      options(),
      deps({
        async connectCompanion(run) {
          const session = await base.connectCompanion(run);
          return {
            ...session,
            checkReadiness: async () => ({
              checks: [{ name: "free-space", ok: false, observed: "1 GiB", fix: "free space" }],
              notReady,
              toolUnusable: false,
            }),
          };
        },
      }),
    );
    expect(failure).toMatchObject({ code: "COMPANION_NOT_READY", exitCode: EXIT_CODES.COMPANION });
    expect(report).toMatchObject({
      outcome: "failure",
      failurePhase: "companion-bringup",
      exitCode: EXIT_CODES.COMPANION,
      error: { code: "COMPANION_NOT_READY", hint: "free space" },
      companion: { checks: [{ name: "free-space", ok: false }] },
    });
  });

  it("absent tiles fail the download (TileDownloadError) unless allowed", async () => {
    const absent = deps({
      downloadTiles: async () => ({
        outcome: "complete",
        counts: { planned: 4, fetched: 3, cached: 0, absent: 1, failed: 0 },
        bytesFetched: 10,
        failedTiles: [],
      }),
    });
    const strict = await buildCache(options(), absent);
    expect(strict.report).toMatchObject({
      failurePhase: "tile-download",
      error: { code: "TILE_DOWNLOAD_FAILED", class: "TileDownloadError" },
      tiles: { absent: 1 },
    });
    const lenient = await buildCache({ ...options(), allowAbsent: true }, absent);
    expect(lenient.report.outcome).toBe("success");
  });

  it("an unrecognised error is internal: reported, the lock released, the record finished", async () => {
    const bug = new TypeError("undefined is not a function");
    const { report, failure } = await buildCache(
      options(),
      deps({
        downloadTiles: async () => {
          throw bug;
        },
      }),
    );
    expect(failure).toMatchObject({ internal: true, error: bug, exitCode: EXIT_CODES.INTERNAL });
    expect(report).toMatchObject({
      failurePhase: "tile-download",
      error: { code: "INTERNAL", class: "TypeError" },
    });
    expect(existsSync(join(temp.path, "staging", "build.lock"))).toBe(false);
    const runDir = join(temp.path, "staging", "runs", report.runId!);
    expect(JSON.parse(readFileSync(join(runDir, "report.json"), "utf8")).exitCode).toBe(EXIT_CODES.INTERNAL);
  });

  it("an interruption is reported as such, whatever error it caused on the way out", async () => {
    const controller = new AbortController();
    const { report } = await buildCache(
      options(),
      deps({
        signal: controller.signal,
        async downloadTiles() {
          controller.abort(new InterruptedError("SIGINT"));
          throw new Error("socket hang up");
        },
      }),
    );
    expect(report).toMatchObject({
      failurePhase: "tile-download",
      exitCode: EXIT_CODES.INTERRUPTED,
      error: { code: "INTERRUPTED", message: "interrupted by SIGINT" },
    });
  });

  it("a dry run takes no lock and writes no record", async () => {
    const calls: string[] = [];
    const { report } = await buildCache({ ...options(), dryRun: true }, deps({}, calls));
    expect(report).toMatchObject({ runId: null, outcome: "success", tiles: null, sync: null });
    expect(calls).not.toContain("download");
    expect(calls.some((c) => c.endsWith("--dry-run"))).toBe(true);
    expect(existsSync(join(temp.path, "staging"))).toBe(false);
    expect(readdirSync(temp.path)).toEqual([]);
  });
});

describe("install and models", () => {
  /** A companion without operator-tool until installTool runs. */
  function bareCompanion(calls: string[]): Partial<CacheBuildDeps> {
    const base = deps({}, calls);
    return {
      async connectCompanion(run) {
        const session = await base.connectCompanion(run);
        let installed = false;
        let remoteCommand = "operator-tool";
        return {
          ...session,
          get remoteCommand() {
            return remoteCommand;
          },
          async checkReadiness() {
            calls.push("readiness");
            const ok = installed;
            return {
              checks: [{ name: "operator-tool", ok, observed: ok ? "0.1.0" : "missing", fix: "install it" }],
              notReady: ok
                ? undefined
                : new OperatorToolError("COMPANION_NOT_READY", "operator-tool missing"),
              toolUnusable: !ok,
            };
          },
          async installTool(signal) {
            installed = true;
            remoteCommand = "/home/ops/.local/bin/operator-tool";
            return session.installTool(signal);
          },
        };
      },
    };
  }

  it("without --install-companion, a companion lacking the tool stops the run (30)", async () => {
    const calls: string[] = [];
    const { report } = await buildCache(options(), deps(bareCompanion(calls), calls));
    expect(report).toMatchObject({ failurePhase: "companion-bringup", exitCode: EXIT_CODES.COMPANION });
    expect(calls).not.toContain("install");
  });

  it("with --install-companion, installs, checks again and runs the remote phases through the installed wrapper", async () => {
    const calls: string[] = [];
    const { report } = await buildCache(
      { ...options(), installCompanion: true },
      deps(bareCompanion(calls), calls),
    );
    expect(report).toMatchObject({ outcome: "success", install: { outcome: "installed" } });
    expect(calls.filter((c) => c === "readiness")).toHaveLength(2);
    expect(calls.find((c) => c.startsWith("provision"))).toMatch(
      /^provision \/home\/ops\/\.local\/bin\/operator-tool compile-engines /,
    );
  });

  it("a workstation corpus is pushed after the tiles and its companion copy is what compile-engines reads", async () => {
    const calls: string[] = [];
    const { report } = await buildCache(
      { ...options(), corpus: { location: "workstation", path: "/home/me/corpus.json" } },
      deps({}, calls),
    );
    expect(report).toMatchObject({ outcome: "no-op", models: { sent: 0, skipped: 2 } });
    const at = (prefix: string) => calls.findIndex((c) => c.startsWith(prefix));
    expect(at("sync")).toBeLessThan(at("models /home/me/corpus.json"));
    expect(calls[at("provision")]).toContain("--corpus /var/cache/operator-tool/models/corpus.json");
  });

  it("a dry run with a workstation corpus pushes nothing and asks for no engine decisions", async () => {
    const calls: string[] = [];
    const { report } = await buildCache(
      { ...options(), dryRun: true, corpus: { location: "workstation", path: "/home/me/corpus.json" } },
      deps({}, calls),
    );
    expect(report).toMatchObject({ outcome: "success", models: null, remote: null });
    expect(calls.some((c) => c.startsWith("models") || c.startsWith("provision"))).toBe(false);
  });
});

describe("compileEnginesArgs", () => {
  it("passes the corpus as one argument and appends only the flags asked for", () => {
    expect(compileEnginesArgs({ remoteCorpus: "/opt/my corpus.json", force: true, dryRun: false })).toEqual([
      "compile-engines",
      "--json",
      "--log-format",
      "json",
      "--corpus",
      "/opt/my corpus.json",
      "--force",
    ]);
    expect(compileEnginesArgs({ remoteCorpus: "/c.json", force: false, dryRun: true }).slice(-1)).toEqual([
      "--dry-run",
    ]);
  });
});
